// bitcache statement verifier, in the browser: the checks of
// bitcache/statements/verify.py (statement_check.py, statement.py, merkle.py,
// treehead.py), with WebCrypto's Ed25519 and SHA-256. Nothing the server says
// is trusted but the document itself and the public key in the input field.
"use strict";

(function () {
  const FORMAT = "bitcache-statement/2";
  const STATEMENT_DOMAIN = "bitcache:statement:v1\u0000";
  const TREE_HEAD_DOMAIN = "bitcache:tree-head:v1\u0000";
  const ENTRY_TAG = "bitcache:entry:v1";
  const INT64_MIN = -(2n ** 63n);
  const INT64_MAX = 2n ** 63n - 1n;
  const U64_MAX = 2n ** 64n - 1n;
  const PART = /^[A-Za-z0-9_.@+\-]{1,128}$/;
  const ENTRY_KINDS = ["posted", "pending", "post_pending", "void_pending", "reversal"];
  const MOVING = ["posted", "post_pending", "reversal"];
  const LINE_KINDS = ["download", "reversal", "payout", "adjustment"];
  const REASONS = { registered: true, imported: true, updated: false, transferred: false,
                    recorded: true };
  const PAYOUT_SPLIT = /^payout [0-9a-f]{64} sent (0|[1-9][0-9]{0,17}) sat, fee share (0|[1-9][0-9]{0,17}) msat$/;
  const enc = new TextEncoder();

  class Invalid extends Error {
    constructor(message, line) { super(message); this.line = line === undefined ? null : line; }
  }

  // -- JSON: integers as BigInt, no floats, no duplicate keys -----------------------
  function parseJson(text) {
    let i = 0;
    const ws = () => { while (i < text.length && " \t\n\r".includes(text[i])) i++; };
    const fail = (what) => { throw new Invalid("the statement is not a valid JSON document: " + what + " at " + i); };
    function value() {
      ws();
      const c = text[i];
      if (c === "{") return object();
      if (c === "[") return array();
      if (c === '"') return string();
      if (text.startsWith("true", i)) { i += 4; return true; }
      if (text.startsWith("false", i)) { i += 5; return false; }
      if (text.startsWith("null", i)) { i += 4; return null; }
      return number();
    }
    function object() {
      i++;
      const out = Object.create(null);
      const seen = new Set();
      ws();
      if (text[i] === "}") { i++; return out; }
      for (;;) {
        ws();
        if (text[i] !== '"') fail("expected a key");
        const key = string();
        if (seen.has(key)) fail("duplicate key in a JSON object");
        seen.add(key);
        ws();
        if (text[i] !== ":") fail("expected ':'");
        i++;
        out[key] = value();
        ws();
        if (text[i] === ",") { i++; continue; }
        if (text[i] === "}") { i++; return out; }
        fail("expected ',' or '}'");
      }
    }
    function array() {
      i++;
      const out = [];
      ws();
      if (text[i] === "]") { i++; return out; }
      for (;;) {
        out.push(value());
        ws();
        if (text[i] === ",") { i++; continue; }
        if (text[i] === "]") { i++; return out; }
        fail("expected ',' or ']'");
      }
    }
    function string() {
      i++;
      let out = "";
      for (;;) {
        if (i >= text.length) fail("unterminated string");
        const c = text[i++];
        if (c === '"') return out;
        if (c < " ") fail("control character in a string");
        if (c !== "\\") { out += c; continue; }
        const e = text[i++];
        const simple = { '"': '"', "\\": "\\", "/": "/", b: "\b", f: "\f", n: "\n", r: "\r", t: "\t" };
        if (e in simple) { out += simple[e]; continue; }
        if (e !== "u" || !/^[0-9a-fA-F]{4}$/.test(text.substr(i, 4))) fail("bad escape");
        out += String.fromCharCode(parseInt(text.substr(i, 4), 16));
        i += 4;
      }
    }
    function number() {
      const m = /^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?/.exec(text.slice(i, i + 400));
      if (!m) fail("unexpected character");
      if (m[2] || m[3]) fail("non-integer number " + m[0].slice(0, 20) + " (amounts are integers of msat)");
      i += m[0].length;
      return BigInt(m[0]);
    }
    const out = value();
    ws();
    if (i !== text.length) fail("extra data");
    return out;
  }

  // -- canonical JSON (Python's json.dumps: sort_keys, compact, ensure_ascii) ---------
  function codePointCompare(a, b) {
    const x = Array.from(a), y = Array.from(b);
    for (let k = 0; k < Math.min(x.length, y.length); k++) {
      const d = x[k].codePointAt(0) - y[k].codePointAt(0);
      if (d) return d;
    }
    return x.length - y.length;
  }
  function quote(s) {
    let out = '"';
    for (let k = 0; k < s.length; k++) {
      const c = s.charCodeAt(k);
      const ch = s[k];
      if (ch === '"') out += '\\"';
      else if (ch === "\\") out += "\\\\";
      else if (ch === "\n") out += "\\n";
      else if (ch === "\r") out += "\\r";
      else if (ch === "\t") out += "\\t";
      else if (ch === "\b") out += "\\b";
      else if (ch === "\f") out += "\\f";
      else if (c < 0x20 || c > 0x7e) out += "\\u" + c.toString(16).padStart(4, "0");
      else out += ch;
    }
    return out + '"';
  }
  function canonical(v) {
    if (v === null) return "null";
    if (v === true) return "true";
    if (v === false) return "false";
    if (typeof v === "bigint") return v.toString();
    if (typeof v === "string") return quote(v);
    if (Array.isArray(v)) return "[" + v.map(canonical).join(",") + "]";
    const keys = Object.keys(v).sort(codePointCompare);
    return "{" + keys.map((k) => quote(k) + ":" + canonical(v[k])).join(",") + "}";
  }

  // -- bytes and hashes ---------------------------------------------------------------
  function concat(...parts) {
    const size = parts.reduce((n, p) => n + p.length, 0);
    const out = new Uint8Array(size);
    let at = 0;
    for (const p of parts) { out.set(p, at); at += p.length; }
    return out;
  }
  function be64(n, signed) {
    const out = new Uint8Array(8);
    let v = signed && n < 0n ? n + 2n ** 64n : n;
    for (let k = 7; k >= 0; k--) { out[k] = Number(v & 0xffn); v >>= 8n; }
    return out;
  }
  async function sha256(bytes) {
    return new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  }
  function equalBytes(a, b) {
    return a.length === b.length && a.every((x, k) => x === b[k]);
  }
  function hexOf(bytes) {
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }
  function fromHex(value, size) {
    if (typeof value !== "string" || value.length !== 2 * size || !/^[0-9a-f]*$/.test(value)) return null;
    const out = new Uint8Array(size);
    for (let k = 0; k < size; k++) out[k] = parseInt(value.substr(2 * k, 2), 16);
    return out;
  }
  const leafHash = (data) => sha256(concat(new Uint8Array([0]), data));
  const nodeHash = (l, r) => sha256(concat(new Uint8Array([1]), l, r));

  // RFC 9162 2.1.3.2, as merkle.root_from_inclusion_proof
  async function verifyInclusion(leaf, index, size, proof, root) {
    if (index < 0n || size < 0n || index >= size) return false;
    let fn = index, sn = size - 1n, r = leaf;
    for (const p of proof) {
      if (sn === 0n) return false;
      if ((fn & 1n) === 1n || fn === sn) {
        r = await nodeHash(p, r);
        while (fn !== 0n && (fn & 1n) === 0n) { fn >>= 1n; sn >>= 1n; }
      } else {
        r = await nodeHash(r, p);
      }
      fn >>= 1n; sn >>= 1n;
    }
    return sn === 0n && equalBytes(r, root);
  }

  // -- typed fields, as statement_check._Fields ---------------------------------------
  const isObject = (v) => v !== null && typeof v === "object" && !Array.isArray(v);
  function fields(value, where, keys, line) {
    if (!isObject(value)) throw new Invalid(where + " must be a JSON object", line);
    const have = Object.keys(value);
    const missing = keys.filter((k) => !have.includes(k)).sort();
    const extra = have.filter((k) => !keys.includes(k)).sort();
    if (missing.length || extra.length) {
      throw new Invalid(where + ": missing [" + missing.join(", ") + "], unexpected [" + extra.join(", ") + "]", line);
    }
    const fail = (m) => new Invalid(where + ": " + m, line);
    const f = {
      obj: value, fail,
      num(k) {
        const v = value[k];
        if (typeof v !== "bigint" || v < INT64_MIN || v > INT64_MAX) throw fail(k + " must be a 64-bit integer");
        return v;
      },
      optNum(k) { return value[k] === null ? null : f.num(k); },
      text(k) { if (typeof value[k] !== "string") throw fail(k + " must be text"); return value[k]; },
      optText(k) { return value[k] === null ? null : f.text(k); },
      hex(k) { const b = fromHex(value[k], 32); if (!b) throw fail(k + " must be 32 bytes of hex"); return b; },
      optHex(k) { return value[k] === null ? null : f.hex(k); },
      seq(k) { if (!Array.isArray(value[k])) throw fail(k + " must be a list"); return value[k]; },
    };
    return f;
  }

  function payableOf(uploader) {
    const name = "liability:payable:" + uploader;
    if (Array.from(name).length > 200 || !name.split(":").slice(1).every((p) => PART.test(p))) return null;
    return name;
  }

  // -- tree head -------------------------------------------------------------------------
  async function readTreeHead(obj, key) {
    const keys = ["tree_size", "root_hash", "timestamp", "signature"];
    if (!isObject(obj) || Object.keys(obj).length !== 4 || !keys.every((k) => k in obj)) {
      throw new Invalid("tree head must have tree_size, root_hash, timestamp, signature");
    }
    const size = obj.tree_size, ts = obj.timestamp;
    if (typeof size !== "bigint" || typeof ts !== "bigint") throw new Invalid("tree head tree_size and timestamp must be integers");
    const root = fromHex(obj.root_hash, 32);
    if (!root) throw new Invalid("tree head root_hash must be 32 bytes as lowercase hex");
    const sig = fromHex(obj.signature, 64);
    if (!sig) throw new Invalid("tree head signature must be 64 bytes as lowercase hex");
    if (size < 0n || size > U64_MAX) throw new Invalid("tree size must be an int from 0 to 2^64-1");
    if (ts < INT64_MIN || ts > INT64_MAX) throw new Invalid("timestamp must be an int of microseconds");
    const message = concat(enc.encode(TREE_HEAD_DOMAIN), be64(size, false), be64(ts, true), root);
    if (!(await crypto.subtle.verify("Ed25519", key, sig, message))) {
      throw new Invalid("the signature of the tree head of size " + size + " does not verify with the platform's public key");
    }
    return { size, root };
  }

  // -- entries and lines -------------------------------------------------------------------
  const text = (s) => Array.from(s).length + ":" + s;

  async function readEntry(f) {
    const kind = f.obj.kind;
    if (!ENTRY_KINDS.includes(kind)) throw f.fail("kind " + JSON.stringify(kind) + " is not an entry kind");
    const id = f.num("id"), recordedAt = f.num("recorded_at");
    if (id < 1n) throw f.fail("id must be positive");
    const postings = f.seq("postings").map((p, k) => {
      const g = fields(p, f.where + " posting " + k, ["account", "amount", "file_hash"], f.line);
      return { account: g.text("account"), amount: g.num("amount"), file: g.optHex("file_hash") };
    });
    const key = f.text("key"), memo = f.text("memo");
    const ref = f.optNum("ref"), expires = f.optNum("expires_at");
    const legs = postings.map((p) => text(p.account) + "," + p.amount + "," + (p.file ? hexOf(p.file) : "-") + ";").join("");
    const head = "v1|" + text(key) + "|" + kind + "|" + (ref === null ? "-" : ref) + "|" +
      (expires === null ? "-" : expires) + "|" + text(memo) + "|";
    const content = await sha256(enc.encode(head + legs));
    const prev = f.hex("prev_hash"), stated = f.hex("entry_hash");
    const chained = await sha256(concat(enc.encode(ENTRY_TAG), content, be64(id, false), be64(recordedAt, true), prev));
    if (!equalBytes(chained, stated)) {
      throw f.fail("entry " + id + " does not hash to its entry hash: its postings, memo, key or place in the journal were altered");
    }
    return { id, kind, postings, memo, recordedAt, entryHash: stated };
  }

  function payoutTxid(memo) {
    const parts = memo.split(" ");
    return parts.length >= 2 && parts[0] === "payout" && /^[0-9a-f]{64}$/.test(parts[1]) ? parts[1] : null;
  }

  function classify(entry, index) {
    if (!MOVING.includes(entry.kind) || index < 0 || index >= entry.postings.length) return null;
    const p = entry.postings[index];
    const amount = -p.amount;
    const reversal = entry.kind === "reversal";
    const downloaderSide = entry.postings.some((q) => q.account.startsWith("liability:prepaid:") &&
      (reversal ? q.amount < 0n : q.amount > 0n));
    if (p.file !== null && downloaderSide) {
      if (p.amount < 0n && !reversal) return facts("download", amount, 1n, p.file, null, null, null);
      if (p.amount > 0n && reversal) return facts("reversal", amount, -1n, p.file, null, null, null);
    }
    if (p.file === null && p.amount > 0n && !reversal && entry.memo.startsWith("payout")) {
      const m = PAYOUT_SPLIT.exec(entry.memo);
      return facts("payout", amount, 0n, null, payoutTxid(entry.memo), m ? BigInt(m[1]) : null, m ? BigInt(m[2]) : null);
    }
    return facts("adjustment", amount, 0n, p.file, null, null, null);
  }
  function facts(kind, amount, downloads, file, txid, received, share) {
    return { kind, amount_msat: amount, downloads, file_hash: file ? hexOf(file) : null, txid,
             received_sat: received, fee_share_msat: share };
  }

  const LINE_KEYS = ["n", "kind", "amount_msat", "downloads", "file_hash", "txid", "received_sat",
    "fee_share_msat", "posting", "entry", "proof"];
  const ENTRY_KEYS = ["id", "key", "kind", "ref", "expires_at", "memo", "recorded_at", "prev_hash",
    "entry_hash", "postings"];

  async function readLine(n, raw, ctx) {
    const f = fields(raw, "line " + n, LINE_KEYS, n);
    if (f.num("n") !== BigInt(n)) {
      throw f.fail("is numbered " + f.obj.n + ": lines are numbered 1, 2, 3… in order (a line was removed, added or moved)");
    }
    const entry = await readEntry(fields(f.obj.entry, "line " + n + " entry", ENTRY_KEYS, n));
    const g = fields(f.obj, "line " + n + " (entry " + entry.id + ")", LINE_KEYS, n);
    const index = g.num("posting");
    if (index < 0n || index >= BigInt(entry.postings.length) || entry.postings[Number(index)].account !== ctx.account) {
      throw g.fail("posting " + index + " of the entry is not a posting to " + ctx.account);
    }
    const actual = classify(entry, Number(index));
    if (actual === null) throw g.fail("a " + entry.kind + " entry moves no posted money and is not a line");
    if (!LINE_KINDS.includes(g.obj.kind)) throw g.fail("kind " + JSON.stringify(g.obj.kind) + " is not one of the line kinds");
    const file = g.optHex("file_hash");
    const stated = { kind: g.obj.kind, amount_msat: g.num("amount_msat"), downloads: g.num("downloads"),
      file_hash: file ? hexOf(file) : null, txid: g.optText("txid"), received_sat: g.optNum("received_sat"),
      fee_share_msat: g.optNum("fee_share_msat") };
    if (stated.kind === "payout") {
      const r = stated.received_sat, s = stated.fee_share_msat;
      if ((r !== null && r < 0n) || (s !== null && s < 0n)) throw g.fail("received_sat and fee_share_msat cannot be negative");
      const whole = r === null || s === null ? r === null && s === null : r * 1000n + s === -stated.amount_msat;
      if (!whole) {
        throw g.fail("received_sat " + r + " and fee_share_msat " + s + " do not add up to the " +
          (-stated.amount_msat) + " msat the payout debited (received × 1000 + fee share)");
      }
    }
    for (const name of ["kind", "amount_msat", "downloads", "file_hash", "txid", "received_sat", "fee_share_msat"]) {
      if (stated[name] !== actual[name]) {
        throw g.fail(name + " says " + stated[name] + " but the journal entry's posting means " + actual[name]);
      }
    }
    if (!(ctx.start <= entry.recordedAt && entry.recordedAt < ctx.end)) {
      throw g.fail("the entry was recorded at " + entry.recordedAt + ", outside the period");
    }
    if (entry.id > ctx.head.size) throw g.fail("the entry is not under the tree head of size " + ctx.head.size);
    const proof = g.seq("proof").map((h) => {
      const b = fromHex(h, 32);
      if (!b) throw g.fail("proof hashes must be 32 bytes of hex");
      return b;
    });
    if (!(await verifyInclusion(await leafHash(entry.entryHash), entry.id - 1n, ctx.head.size, proof, ctx.head.root))) {
      throw g.fail("the inclusion proof does not lead from the entry hash to the signed tree head's root: " +
        "the entry is not in the journal the platform signed");
    }
    return { entry, posting: Number(index), facts: actual };
  }

  function checkOrder(lines, account) {
    let last = [0n, -1];
    const listed = new Map();
    lines.forEach((line, k) => {
      const id = line.entry.id;
      if (id < last[0] || (id === last[0] && line.posting <= last[1])) {
        throw new Invalid("line " + (k + 1) + " (entry " + id + "): lines must follow journal order without repeats", k + 1);
      }
      last = [id, line.posting];
      if (!listed.has(id)) listed.set(id, new Set());
      listed.get(id).add(line.posting);
    });
    for (const line of lines) {
      const mine = line.entry.postings.map((p, k) => (p.account === account ? k : -1)).filter((k) => k >= 0);
      const got = listed.get(line.entry.id);
      if (mine.length !== got.size || !mine.every((k) => got.has(k))) {
        throw new Invalid("entry " + line.entry.id + " has postings to " + account + " that no line lists (a line was removed)");
      }
    }
  }

  function readTerms(items, uploader, start, end) {
    let lastSeq = null;
    items.forEach((raw, k) => {
      const n = k + 1;
      const where = "terms item " + n;
      const keys = ["seq", "file_hash", "changed_at", "reason", "old", "new"];
      if (!isObject(raw) || Object.keys(raw).length !== keys.length || !keys.every((x) => x in raw)) {
        throw new Invalid(where + ": a term change must be an object with the keys " + keys.slice().sort().join(", "));
      }
      if (!(raw.reason in REASONS)) throw new Invalid(where + ": reason " + JSON.stringify(raw.reason) + " is not a reason of a term change");
      if ((raw.old === null) !== REASONS[raw.reason]) throw new Invalid(where + ": old terms do not fit the reason " + raw.reason);
      const sides = raw.old === null ? [raw.new] : [raw.old, raw.new];
      for (const t of sides) {
        const tk = ["uploader", "price", "size", "cap", "referrer"];
        if (!isObject(t) || Object.keys(t).length !== tk.length || !tk.every((x) => x in t) || typeof t.uploader !== "string") {
          throw new Invalid(where + ": terms must be an object with the keys " + tk.slice().sort().join(", "));
        }
      }
      for (const name of ["seq", "changed_at"]) {
        if (typeof raw[name] !== "bigint" || raw[name] < INT64_MIN || raw[name] > INT64_MAX) {
          throw new Invalid(where + ": " + name + " must be a 64-bit integer");
        }
      }
      if (typeof raw.file_hash !== "string" || !/^[0-9a-fA-F]{64}$/.test(raw.file_hash)) throw new Invalid(where + ": file hash must be 64 hex characters");
      if (!(start <= raw.changed_at && raw.changed_at < end)) throw new Invalid(where + ": changed at " + raw.changed_at + ", outside the period");
      if (!sides.some((t) => t.uploader === uploader || t.referrer === uploader)) {
        throw new Invalid(where + ": file " + raw.file_hash.toLowerCase() + " is neither owned nor referred by " + uploader);
      }
      if (lastSeq !== null && raw.seq <= lastSeq) throw new Invalid(where + ": changes must be listed in order");
      lastSeq = raw.seq;
    });
  }

  // -- totals (statement.summarize) and the comparison (check_summary) ----------------------
  function summarize(lines, opening) {
    const files = new Map();
    const payouts = [];
    let earned = 0n, paid = 0n, adjusted = 0n;
    for (const line of lines) {
      const f = line.facts;
      if (f.kind === "download" || f.kind === "reversal") {
        const [d, m] = files.get(f.file_hash) || [0n, 0n];
        files.set(f.file_hash, [d + f.downloads, m + f.amount_msat]);
        earned += f.amount_msat;
      } else if (f.kind === "payout") {
        payouts.push({ entry_id: line.entry.id, txid: f.txid, amount_msat: -f.amount_msat,
          received_sat: f.received_sat, fee_share_msat: f.fee_share_msat });
        paid -= f.amount_msat;
      } else {
        adjusted += f.amount_msat;
      }
    }
    const perFile = Array.from(files.keys()).sort().map((h) => ({ file_hash: h, downloads: files.get(h)[0], earned_msat: files.get(h)[1] }));
    return { files: perFile, payouts, totals: { earned_msat: earned, paid_msat: paid, adjusted_msat: adjusted,
      opening_msat: opening, closing_msat: opening + earned - paid + adjusted } };
  }
  function deepEqual(a, b) {
    if (a === b) return true;
    if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, k) => deepEqual(x, b[k]));
    if (isObject(a) && isObject(b)) {
      const ka = Object.keys(a), kb = Object.keys(b);
      return ka.length === kb.length && ka.every((k) => k in b && deepEqual(a[k], b[k]));
    }
    return false;
  }
  const shown = (v) => canonical(v === undefined ? null : v);
  function checkSummary(doc, derived) {
    for (const name of ["files", "payouts"]) {
      const stated = doc[name], real = derived[name];
      if (!deepEqual(stated, real)) {
        if (!Array.isArray(stated)) throw new Invalid(name + ": must be a list");
        const k = stated.findIndex((x, j) => !deepEqual(x, real[j]));
        if (k >= 0 && k < real.length) throw new Invalid(name + ": item " + (k + 1) + " says " + shown(stated[k]) + " but the lines give " + shown(real[k]));
        throw new Invalid(name + ": the statement lists " + stated.length + " items, the lines give " + real.length);
      }
    }
    const t = fields(doc.totals, "totals", Object.keys(derived.totals));
    for (const key of Object.keys(derived.totals).sort()) {
      if (t.num(key) !== derived.totals[key]) throw t.fail(key + " says " + t.obj[key] + " but the lines add up to " + derived.totals[key]);
    }
  }

  const TOP = ["format", "platform", "uploader", "account", "period", "tree_head", "lines", "terms",
    "files", "payouts", "totals", "signature"];

  // verify_statement: the whole document against a public key (32 raw bytes)
  async function verifyStatement(bytes, publicKey) {
    let textDoc;
    try { textDoc = new TextDecoder("utf-8", { fatal: true }).decode(bytes); } catch (e) {
      throw new Invalid("the statement is not a valid JSON document: not UTF-8");
    }
    const doc = parseJson(textDoc);
    if (!isObject(doc)) throw new Invalid("the statement must be a JSON object");
    const key = await crypto.subtle.importKey("raw", publicKey, { name: "Ed25519" }, false, ["verify"]);
    const top = fields(doc, "statement", TOP);
    if (doc.format !== FORMAT) throw top.fail("format must be '" + FORMAT + "', got " + shown(doc.format));
    const uploader = top.text("uploader");
    const account = payableOf(uploader);
    if (account === null) throw top.fail("uploader " + JSON.stringify(uploader.slice(0, 80)) + " is not a valid uploader name");
    if (top.text("account") !== account) throw top.fail("account must be " + account);
    const period = fields(doc.period, "period", ["start", "end"]);
    const start = period.num("start"), end = period.num("end");
    if (start >= end) throw period.fail("start must be before end");
    const head = await readTreeHead(doc.tree_head, key);
    const opening = fields(doc.totals, "totals", ["earned_msat", "paid_msat", "adjusted_msat", "opening_msat", "closing_msat"]).num("opening_msat");
    const ctx = { account, start, end, head };
    const lines = [];
    const raw = top.seq("lines");
    for (let k = 0; k < raw.length; k++) lines.push(await readLine(k + 1, raw[k], ctx));
    checkOrder(lines, account);
    readTerms(top.seq("terms"), uploader, start, end);
    const summary = summarize(lines, opening);
    checkSummary(doc, summary);
    const unsigned = Object.create(null);
    for (const k of Object.keys(doc)) if (k !== "signature") unsigned[k] = doc[k];
    const signature = fromHex(doc.signature, 64);
    if (!signature) throw new Invalid("signature must be 64 bytes of hex");
    const message = enc.encode(STATEMENT_DOMAIN + canonical(unsigned));
    if (!(await crypto.subtle.verify("Ed25519", key, signature, message))) {
      throw new Invalid("the statement's signature does not verify with the platform's public key " +
        "(the document was changed after signing, or another key signed it)");
    }
    return { uploader, lines: lines.length, summary, treeSize: head.size };
  }

  // -- the page ---------------------------------------------------------------------------
  function show(ok, message) {
    const out = document.getElementById("verify-result");
    out.textContent = message;
    out.className = ok ? "good verdict" : "bad verdict";
    out.dataset.verdict = ok ? "valid" : "invalid";
  }
  async function check(bytes) {
    const keyHex = document.getElementById("public-key").value.trim().toLowerCase();
    const publicKey = fromHex(keyHex, 32);
    if (!publicKey) { show(false, "NOT VERIFIED: the platform public key must be 64 hex characters"); return; }
    try {
      const r = await verifyStatement(bytes, publicKey);
      const t = r.summary.totals;
      show(true, "VERIFIED: " + r.lines + " lines of " + r.uploader + ", each proven in the journal of " +
        r.treeSize + " entries the platform signed; earned " + t.earned_msat + " msat, paid " +
        t.paid_msat + " msat, closing balance " + t.closing_msat + " msat.");
    } catch (e) {
      if (e instanceof Invalid) show(false, "NOT VERIFIED: " + e.message);
      else show(false, "NOT VERIFIED: the browser could not check it (" + e.name + ": " + e.message + ")");
    }
  }
  function start() {
    const box = document.getElementById("verifier");
    if (!box) return;
    document.getElementById("verify-server").addEventListener("click", async () => {
      show(false, "checking…");
      document.getElementById("verify-result").dataset.verdict = "";
      const response = await fetch(box.dataset.statement, { credentials: "same-origin" });
      if (!response.ok) { show(false, "NOT VERIFIED: the statement could not be fetched (" + response.status + ")"); return; }
      await check(new Uint8Array(await response.arrayBuffer()));
    });
    document.getElementById("statement-file").addEventListener("change", async (event) => {
      const file = event.target.files[0];
      if (!file) return;
      show(false, "checking…");
      document.getElementById("verify-result").dataset.verdict = "";
      await check(new Uint8Array(await file.arrayBuffer()));
    });
  }
  window.bitcacheVerifyStatement = verifyStatement;
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
