"""The service's pure parts: ranges, links, scopes and keys, the failure limiter, BIP21, schemas,
problems."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from urllib.parse import parse_qsl, urlencode

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bitcache import errors as e
from bitcache.serve import keys
from bitcache.serve.keys import Scope, ScopeKind
from bitcache.serve.links import LinkSigner, link_params
from bitcache.serve.payment import btc_amount, payment_problem, payment_uri
from bitcache.serve.problems import TYPES, problem_for
from bitcache.serve.ranges import ByteRanges, parse_range
from bitcache.serve.ratelimit import FailureLimiter
from bitcache.serve.schema import HEX64, PARTY, check, obj, parse_body, parse_query
from bitcache.store.serve import StoredKey

FILE = "ab" * 32

# -- ranges ---------------------------------------------------------------------------


@pytest.mark.parametrize(("header", "spans"), [
    ("bytes=0-99", ((0, 99),)),
    ("bytes=100-", ((100, 999),)),
    ("bytes=-300", ((700, 999),)),
    ("bytes=-5000", ((0, 999),)),
    ("bytes=990-5000", ((990, 999),)),
    ("bytes=0-0, 10-19", ((0, 0), (10, 19))),
    ("bytes=0-9,2000-3000", ((0, 9),)),  # a range past the end is left out
    ("Bytes= 0 - 9 ,-1", ((0, 9), (999, 999))),  # nginx's case and spaces
    ("bytes=0-9223372036854775807", ((0, 999),)),  # nginx's largest offset
    ("bytes=" + "0" * 5000 + "-9", ((0, 9),)),  # leading zeros, as nginx reads them
])
def test_ranges_resolve_against_the_size(header: str, spans: tuple[tuple[int, int], ...]) -> None:
    asked = parse_range(header, 1000)
    assert asked is not None and asked.spans == spans


@pytest.mark.parametrize("header", [
    "bytes=1000-", "bytes=5000-6000", "items=0-1", "bytes=", "bytes=9-3", "bytes=a-b",
    "bytes=-", "bytes=-0", "bytes=" + ",".join(["0-1"] * 65),
    # what nginx, which sends the bytes after the charge, ignores or refuses
    "bytes =0-9", "bytes=0\t-9", "bytes=0-9223372036854775808", "bytes=-99999999999999999999",
    "bytes=0-" + "9" * 5000,
])
def test_unsatisfiable_or_malformed_ranges_are_refused(header: str) -> None:
    with pytest.raises(e.RangeNotSatisfiable):
        parse_range(header, 1000)


def test_no_header_is_the_whole_file_and_asking_everything_is_whole() -> None:
    assert parse_range(None, 1000) is None
    everything = parse_range("bytes=0-", 1000)
    assert everything is not None and everything.whole
    twice = parse_range("bytes=0-599,400-999", 1000)  # 1,200 bytes sent: more than the file
    assert twice is not None and twice.length == 1200 and twice.whole
    part = parse_range("bytes=0-599", 1000)
    assert part is not None and not part.whole and part.length == 600


spans = st.lists(st.tuples(st.integers(0, 999), st.integers(0, 999)).map(sorted).map(tuple),
                 min_size=1, max_size=6)


@given(paid=spans, asked=spans)
def test_within_means_every_byte_asked_was_paid(paid: list[tuple[int, int]],
                                                asked: list[tuple[int, int]]) -> None:
    p = ByteRanges(tuple(paid), 1000)  # type: ignore[arg-type]
    a = ByteRanges(tuple(asked), 1000)  # type: ignore[arg-type]
    paid_bytes = {b for first, last in paid for b in range(first, last + 1)}
    asked_bytes = {b for first, last in asked for b in range(first, last + 1)}
    assert a.within(p) == (asked_bytes <= paid_bytes)
    assert ByteRanges.from_text(p.text(), 1000) == p


# -- links ----------------------------------------------------------------------------


def _token(n: int) -> bytes:
    return bytes(range(n))


def _params(signer: LinkSigner, query: str) -> dict[str, str]:
    return dict(part.split("=", 1) for part in query.split("&"))


def test_a_link_verifies_until_it_expires() -> None:
    signer = LinkSigner(b"k" * 32)
    link = signer.make(FILE, "bob", 60, now=1_000, token=_token)
    params = _params(signer, signer.query(link))
    assert signer.verify(FILE, params, 1_059) == link
    assert link.charge_key == f"link:{link.link_id}"
    with pytest.raises(e.LinkExpired):
        signer.verify(FILE, params, 1_060)


@pytest.mark.parametrize("change", ["d", "e", "l", "s", "file", "secret"])
def test_changing_any_part_of_a_link_breaks_it(change: str) -> None:
    signer = LinkSigner(b"k" * 32)
    link = signer.make(FILE, "bob", 60, now=1_000, token=_token)
    params = _params(signer, signer.query(link))
    file = FILE
    if change == "file":
        file = "cd" * 32
    elif change == "secret":
        signer = LinkSigner(b"j" * 32)
    elif change == "e":
        params["e"] = str(int(params["e"]) + 3600)
    else:
        value = params[change]
        params[change] = ("A" if value[0] != "A" else "B") + value[1:]
    with pytest.raises(e.LinkInvalid) as refused:
        signer.verify(file, params, 1_000)
    assert not isinstance(refused.value, e.LinkExpired)


@given(st.lists(st.tuples(st.sampled_from(["d", "e", "l", "s", "x", "d%00", ""]),
                          st.text(max_size=12)), max_size=8),
       st.sampled_from(["&", "&&"]))
def test_link_parameters_are_read_as_a_query_parser_reads_them(
        pairs: list[tuple[str, str]], sep: str) -> None:
    query = sep.join(urlencode([pair]) if pair[0] else pair[1] for pair in pairs)
    expected = {k: v for k, v in parse_qsl(query, keep_blank_values=True)
                if k in ("d", "e", "l", "s")}
    assert link_params(query.encode()) == expected


def test_a_link_made_by_the_signer_reads_back_from_its_url() -> None:
    signer = LinkSigner(b"k" * 32)
    link = signer.make(FILE, "bob+x@host", 60, now=1_000, token=_token)
    assert signer.verify(FILE, link_params(signer.query(link).encode()), 1_000) == link


def test_a_link_signature_is_hmac_sha256_of_its_parts() -> None:
    """RFC 2104 HMAC-SHA256 over the domain and the parts, one per line: links made by an
    earlier release, or by a host's own code, keep verifying; and each signature starts
    from the keyed state, whatever was signed before."""
    secret = b"k" * 32
    signer = LinkSigner(secret)
    first = signer.make(FILE, "bob", 60, now=1_000, token=_token)
    other = signer.make("cd" * 32, "alice", 90, now=2_000, token=lambda n: b"x" * n)
    message = b"\n".join([b"bitcache-link-v1", FILE.encode(), b"bob", b"1060",
                          first.link_id.encode()])
    expected = base64.urlsafe_b64encode(hmac.digest(secret, message, hashlib.sha256))
    assert signer.signature(first) == expected.rstrip(b"=").decode()
    assert signer.signature(other) != signer.signature(first)
    assert signer.signature(first) == expected.rstrip(b"=").decode()


def test_malformed_links_and_bad_requests_for_links_are_refused() -> None:
    signer = LinkSigner(b"k" * 32)
    for params in ({}, {"d": "bob", "e": "x", "l": "a" * 22, "s": "b" * 43}):
        with pytest.raises(e.LinkInvalid):
            signer.verify(FILE, params, 0)
    with pytest.raises(e.InvalidInput):
        signer.make("not-a-hash", "bob", 60, now=0)
    with pytest.raises(e.InvalidInput):
        signer.make(FILE, "bob", 0, now=0)
    with pytest.raises(e.InvalidInput):
        signer.make(FILE, "bo b", 60, now=0)
    with pytest.raises(e.InvalidInput):
        LinkSigner(b"short")
    assert "kkkk" not in repr(signer)


# -- scopes and keys ------------------------------------------------------------------


def test_scopes_parse_and_print() -> None:
    assert Scope.parse("storage") == keys.STORAGE
    assert Scope.parse("uploader:carol") == Scope(ScopeKind.UPLOADER, "carol")
    assert str(keys.downloader("bob")) == "downloader:bob"
    for bad in ("admin", "storage:x", "uploader", "uploader:", "downloader:b b", 7):
        with pytest.raises(e.InvalidInput):
            Scope.parse(bad)


def test_a_key_matches_only_its_unrevoked_hash() -> None:
    key = "bck_0123456789ab_" + "A" * 43
    stored = StoredKey("0123456789ab", keys.key_hash(key), ("storage",), "", 0, None)
    assert keys.key_id_of(key) == "0123456789ab"
    assert keys.matches(key, stored)
    assert not keys.matches(key[:-1] + "B", stored)
    assert not keys.matches(key, None)
    revoked = StoredKey("0123456789ab", keys.key_hash(key), ("storage",), "", 0, 5)
    assert not keys.matches(key, revoked)
    for bad in ("", "bck_xyz_abc", key + "A", "Bearer " + key):
        with pytest.raises(e.AuthenticationFailed):
            keys.key_id_of(bad)


# -- failures per client --------------------------------------------------------------


def test_failures_over_the_limit_lock_the_client_out_until_the_window_passes() -> None:
    now = [0.0]
    limiter = FailureLimiter(3, 10.0, clock=lambda: now[0])
    for _ in range(3):
        limiter.check("a")
        limiter.failed("a")
    with pytest.raises(e.TooManyFailures) as refused:
        limiter.check("a")
    assert refused.value.retry_after == 10
    limiter.check("b")  # another client is not affected
    now[0] = 10.0
    limiter.check("a")


def test_the_limiter_forgets_the_oldest_clients_past_its_bound() -> None:
    limiter = FailureLimiter(1, 60.0, max_clients=2, clock=lambda: 0.0)
    for client in ("a", "b", "c"):
        limiter.failed(client)
    limiter.check("a")  # forgotten
    with pytest.raises(e.TooManyFailures):
        limiter.check("c")


# -- 402 and BIP21 --------------------------------------------------------------------


@pytest.mark.parametrize(("sats", "text"), [
    (1, "0.00000001"), (100_000_000, "1"), (150_000_000, "1.5"), (2_100_000_000_000_000,
                                                                  "21000000"),
    (12_345, "0.00012345")])
def test_bip21_amounts_are_decimal_btc(sats: int, text: str) -> None:
    assert btc_amount(sats) == text


def test_the_payment_uri_rounds_the_missing_msat_up_to_a_sat() -> None:
    assert payment_uri("bcrt1qxyz", 1) == "bitcoin:bcrt1qxyz?amount=0.00000001"
    assert payment_uri("bcrt1qxyz", 3_000) == "bitcoin:bcrt1qxyz?amount=0.00000003"
    assert payment_uri("bcrt1qxyz", 3_001) == "bitcoin:bcrt1qxyz?amount=0.00000004"


def test_the_402_body_names_price_balance_and_where_to_pay_but_no_account() -> None:
    exc = e.InsufficientFunds("liability:prepaid:bob has 500 msat", account="x",
                              available=500, needed=2_500)
    body = payment_problem(exc, "bcrt1qaddr").body()
    assert body["status"] == 402 and body["type"] == "/problems/insufficient-funds"
    assert (body["price_msat"], body["available_msat"], body["missing_msat"]) == (3_000, 500,
                                                                                  2_500)
    assert body["payment_uri"] == "bitcoin:bcrt1qaddr?amount=0.00000003"
    assert "liability" not in json.dumps(body)
    assert "deposit_address" not in payment_problem(exc, None).body()


# -- problems -------------------------------------------------------------------------


@pytest.mark.parametrize("exc", [
    e.FileOwnershipConflict("file ab is registered to another uploader (carol)"),
    e.InsufficientFunds("liability:prepaid:carol has 5 msat available"),
    e.UnknownAccount("account 'liability:payable:carol' does not exist"),
    e.IdempotencyConflict("key 'dl:x' was used by entry 7 for carol"),
    e.StoreError("database error: connection to carol@db failed"),
    e.ChainError("rpc error carol"),
])
def test_problems_never_repeat_internal_messages(exc: e.BitcacheError) -> None:
    problem = problem_for(exc)
    assert "carol" not in json.dumps(problem.body())
    assert problem.status in {t.status for t in TYPES.values()}


def test_problem_statuses() -> None:
    assert problem_for(e.InvalidAmount("bad")).status == 400
    assert problem_for(e.AuthenticationFailed("x")).headers["WWW-Authenticate"]
    assert problem_for(e.TooManyFailures("x", retry_after=7)).headers["Retry-After"] == "7"
    assert problem_for(e.LinkExpired("x")).status == 410
    assert problem_for(e.LinkInvalid("x")).status == 403
    assert problem_for(e.FileHeld("x")).status == 451
    assert problem_for(e.DownloadCapReached("x")).status == 403
    assert problem_for(e.IdempotencyKeyReused("x")).status == 422
    unknown = problem_for(e.OutcomeUnknown("lost after COMMIT"))
    assert (unknown.status, unknown.slug, unknown.headers) == (503, "outcome-unknown",
                                                                {"Retry-After": "1"})
    assert problem_for(e.StoreUnavailable("x")).slug == "unavailable"


# -- schemas --------------------------------------------------------------------------


def test_bodies_are_checked_against_their_schema() -> None:
    schema = obj({"file": HEX64, "who": PARTY}, {"n": {"type": "integer", "minimum": 1}})
    assert parse_body(json.dumps({"file": FILE, "who": "bob"}).encode(), schema)["who"] == "bob"
    for bad in ({"file": FILE}, {"file": FILE, "who": "bob", "x": 1},
                {"file": FILE + "\n", "who": "bob"}, {"file": FILE, "who": "bob", "n": 0},
                {"file": FILE, "who": "bob", "n": True}, {"file": FILE, "who": "bob", "n": 1.0},
                [1]):
        with pytest.raises(e.InvalidInput):
            check(bad, schema, "body")
    for raw in (b"{", b"\xff"):
        with pytest.raises(e.InvalidInput):
            parse_body(raw, schema)
    with pytest.raises(e.BodyTooLarge):  # 413, not a malformed request
        parse_body(b"1" * (1 << 21), schema)


def test_query_parameters_are_converted_and_unknown_ones_refused() -> None:
    schemas = {"since": {"type": "integer", "minimum": 0}}
    assert parse_query({"since": "5"}, schemas) == {"since": 5}
    for bad in ({"since": "x"}, {"since": "-1"}, {"other": "1"}):
        with pytest.raises(e.InvalidInput):
            parse_query(bad, schemas)
