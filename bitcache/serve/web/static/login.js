// A login link reads /web/login#key=bck_…: the key stays in the fragment, which the
// browser never sends to a server. Fill the form from it, drop it from the address
// bar and the history, and log in.
"use strict";
(function () {
  function start() {
    const match = /^#key=(bck_[0-9a-f]{12}_[A-Za-z0-9_-]{43})$/.exec(window.location.hash);
    if (!match) return;
    history.replaceState(null, "", window.location.pathname);
    document.getElementById("key").value = match[1];
    document.getElementById("login-form").submit();
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
