"""The payout planner: who is paid, how much, and in which transactions."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bitcache.bitcoin.script import null_data_script
from bitcache.core.scripttype import ScriptType
from bitcache.errors import InvalidInput, InvalidPolicy
from bitcache.settlement.payouts import (
    FeePayer,
    Payable,
    PayoutPolicy,
    SkipReason,
    marginal_fee_msat,
    plan_payouts,
)
from bitcache.tx.sizes import MAX_STANDARD_TX_WEIGHT, P2WPKH_INPUT_WU, tx_weight
from tests.settlement.support import payee_address

KINDS = {
    ScriptType.P2WPKH: "p2wpkh",
    ScriptType.P2TR: "p2tr",
    ScriptType.P2WSH: "p2wsh",
    ScriptType.P2PKH: "p2pkh",
    ScriptType.P2SH: "p2sh",
}


def payable(name: str, balance: int, kind: ScriptType = ScriptType.P2WPKH) -> Payable:
    return Payable(name, balance, payee_address(name, KINDS[kind])[1], kind)


def test_uploader_pays_the_marginal_fee_and_keeps_the_sub_sat_remainder() -> None:
    plan = plan_payouts([payable("alice", 50_000_123)], PayoutPolicy(min_payout_sat=1_000), 2_000)
    (line,) = plan.batches[0].lines
    assert line.fee_share_msat == 31 * 2_000  # 31 vB at 2 sat/vB = 62 sats, in msat
    assert line.payout_sat == (50_000_123 - 62_000) // 1000 == 49_938
    assert line.remainder_msat == 123
    assert line.reserved_msat == 49_938_000 + 62_000


def test_platform_pays_policy_takes_no_fee_share() -> None:
    policy = PayoutPolicy(min_payout_sat=1_000, fee_payer=FeePayer.PLATFORM)
    (line,) = plan_payouts([payable("alice", 50_000_123)], policy, 2_000).batches[0].lines
    assert (line.payout_sat, line.fee_share_msat, line.remainder_msat) == (50_000, 0, 123)


def test_fee_rate_is_clamped_to_floor_and_ceiling() -> None:
    policy = PayoutPolicy(
        min_payout_sat=1_000, fee_floor_sat_per_kvb=2_000, fee_ceiling_sat_per_kvb=9_000
    )
    assert plan_payouts([], policy, 500).fee_rate_sat_per_kvb == 2_000
    assert plan_payouts([], policy, 50_000).fee_rate_sat_per_kvb == 9_000
    assert plan_payouts([], policy, 4_321).fee_rate_sat_per_kvb == 4_321


@given(
    estimate=st.integers(0, 200_000),
    floor=st.integers(1, 50_000),
    ceiling=st.integers(50_000, 150_000),
    relay=st.integers(0, 200_000),
)
def test_the_nodes_relay_floor_raises_the_rate_up_to_the_ceiling(
    estimate: int, floor: int, ceiling: int, relay: int
) -> None:
    policy = PayoutPolicy(fee_floor_sat_per_kvb=floor, fee_ceiling_sat_per_kvb=ceiling)
    if relay > ceiling:
        with pytest.raises(InvalidPolicy, match="above the ceiling"):
            plan_payouts([], policy, estimate, relay_floor_sat_per_kvb=relay)
        return
    rate = plan_payouts([], policy, estimate, relay_floor_sat_per_kvb=relay).fee_rate_sat_per_kvb
    assert rate >= relay and rate >= floor and rate <= ceiling
    assert rate == min(max(estimate, floor, relay), ceiling)
    if estimate >= max(floor, relay):  # the estimate is kept when it clears both floors
        assert rate == min(estimate, ceiling)


def test_skip_reasons() -> None:
    policy = PayoutPolicy(min_payout_sat=300, max_fee_ratio_bps=1_000)
    plan = plan_payouts(
        [
            payable("small", 200_000),  # 200 - 62 = 138 sats < minimum 300
            payable("dustier", 500_000, ScriptType.P2PKH),  # 500 - 68 = 432 < P2PKH dust 546
            payable("costly", 700_000, ScriptType.P2TR),  # fee 86 sats > 10 % of 614
            payable("fine", 50_000_000),
        ],
        policy,
        2_000,
    )
    reasons = {s.uploader: s.reason for s in plan.skipped}
    assert reasons == {
        "small": SkipReason.BELOW_MINIMUM,
        "dustier": SkipReason.BELOW_DUST,
        "costly": SkipReason.FEE_TOO_HIGH,
    }
    assert [line.uploader for b in plan.batches for line in b.lines] == ["fine"]


def test_two_uploaders_sharing_an_address_get_one_output_this_cycle() -> None:
    a = payable("alice", 50_000_000)
    b = Payable("bob", 60_000_000, a.script_pubkey, a.script_type)
    plan = plan_payouts([b, a], PayoutPolicy(min_payout_sat=1_000), 1_000)
    assert [line.uploader for line in plan.batches[0].lines] == ["alice"]
    assert [(s.uploader, s.reason) for s in plan.skipped] == [("bob", SkipReason.SHARED_ADDRESS)]


def test_an_uploader_listed_twice_is_refused() -> None:
    with pytest.raises(InvalidInput, match="listed twice"):
        plan_payouts([payable("a", 10**9), payable("a", 10**9)], PayoutPolicy(), 1_000)


def test_policy_values_are_checked() -> None:
    with pytest.raises(InvalidPolicy, match="above the ceiling"):
        PayoutPolicy(fee_floor_sat_per_kvb=5_000, fee_ceiling_sat_per_kvb=1_000)
    with pytest.raises(InvalidPolicy, match="max_fee_ratio_bps"):
        PayoutPolicy(max_fee_ratio_bps=20_000)
    with pytest.raises(InvalidPolicy, match="min_payout_sat"):
        PayoutPolicy(min_payout_sat=0)


def test_batches_split_at_the_output_cap_and_the_anchor_rides_in_the_first() -> None:
    policy = PayoutPolicy(min_payout_sat=1_000, max_outputs_per_tx=3)
    anchor = b"\x01" * 32
    plan = plan_payouts(
        [payable(f"u{i:02}", 10**7) for i in range(7)], policy, 1_000, anchor=anchor
    )
    assert [len(b.lines) for b in plan.batches] == [3, 3, 1]
    assert [b.anchor for b in plan.batches] == [anchor, None, None]


def test_batches_split_under_the_standard_weight() -> None:
    policy = PayoutPolicy(min_payout_sat=1_000, max_outputs_per_tx=100_000)
    plan = plan_payouts(
        [payable(f"u{i:05}", 10**7, ScriptType.P2TR) for i in range(9_000)], policy, 1_000
    )
    per_tx = policy.payout_budget_wu(None) // (43 * 4)
    assert [len(b.lines) for b in plan.batches] == [per_tx] * 4 + [9_000 - 4 * per_tx]
    for batch in plan.batches:
        types = [line.script_type for line in batch.lines] + [ScriptType.P2WPKH]
        weight = tx_weight(policy.input_reserve_wu // P2WPKH_INPUT_WU, types)
        assert weight <= MAX_STANDARD_TX_WEIGHT


payables_strategy = st.lists(
    st.tuples(
        st.integers(0, 10**11),
        st.sampled_from(list(ScriptType)),
        st.integers(0, 5),  # address id: equal ids share an address
    ),
    max_size=40,
)


@settings(max_examples=150, deadline=None)
@given(
    entries=payables_strategy,
    rate=st.integers(1, 200_000),
    payer=st.sampled_from(list(FeePayer)),
    cap=st.integers(1, 12),
    min_payout=st.integers(1, 50_000),
    ratio=st.integers(0, 10_000),
    anchor=st.none() | st.binary(min_size=1, max_size=80),
)
def test_plan_properties(
    entries: list[tuple[int, ScriptType, int]],
    rate: int,
    payer: FeePayer,
    cap: int,
    min_payout: int,
    ratio: int,
    anchor: bytes | None,
) -> None:
    policy = PayoutPolicy(
        min_payout_sat=min_payout,
        max_fee_ratio_bps=ratio,
        fee_payer=payer,
        max_outputs_per_tx=cap,
        fee_ceiling_sat_per_kvb=200_000,
    )
    payables = []
    for i, (balance, kind, addr) in enumerate(entries):
        script = payee_address(f"addr{addr}-{kind.value}", KINDS[kind])[1]
        payables.append(Payable(f"u{i}", balance, script, kind))
    plan = plan_payouts(payables, policy, rate, anchor=anchor)
    by_name = {p.uploader: p for p in payables}
    lines = [line for b in plan.batches for line in b.lines]
    # every uploader is either paid once or skipped once
    assert sorted([line.uploader for line in lines] + [s.uploader for s in plan.skipped]) == sorted(
        by_name
    )
    # one output per payee, and per script, in a cycle
    assert len({line.uploader for line in lines}) == len(lines)
    assert len({line.script_pubkey for line in lines}) == len(lines)
    for line in lines:
        # payout + fee share + remainder == the balance; the reserved part is payout + share
        assert (
            line.payout_sat * 1000 + line.fee_share_msat + line.remainder_msat
            == by_name[line.uploader].balance_msat
        )
        assert line.reserved_msat == line.payout_sat * 1000 + line.fee_share_msat
        assert 0 <= line.remainder_msat < 1000
        assert line.payout_sat >= max(line.script_type.dust_sat, min_payout)  # never dust
        cost = marginal_fee_msat(line.script_type, plan.fee_rate_sat_per_kvb)
        assert line.fee_share_msat == (cost if payer is FeePayer.UPLOADER else 0)
        assert cost * 10_000 <= ratio * line.payout_sat * 1000
    for n, batch in enumerate(plan.batches):
        assert 1 <= len(batch.lines) <= cap
        assert batch.anchor == (anchor if n == 0 else None)
        assert batch.reserved_msat == sum(line.reserved_msat for line in batch.lines)
        extras = [null_data_script(batch.anchor)] if batch.anchor else []
        types = [line.script_type for line in batch.lines] + [ScriptType.P2WPKH]
        assert tx_weight(100, types, extras) <= MAX_STANDARD_TX_WEIGHT
