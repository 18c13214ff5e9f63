"""Every injected pattern is present, labelled, and has the shape it is named after."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from finrisk.simulate import PATTERN_NAMES, SimulationSummary
from finrisk.simulate.geo import CITY_LAT, CITY_LON, CITY_NAMES, haversine_km


def read(out_dir: Path, event_type: str) -> pd.DataFrame:
    return pq.read_table(out_dir / "events" / event_type).to_pandas()


MINUTE = pd.Timedelta(minutes=1)


def _groups(df: pd.DataFrame, pattern: str) -> list[pd.DataFrame]:
    sel = df[df.label_pattern == pattern].sort_values("event_time")
    groups = [g for _, g in sel.groupby("label_group")]
    assert groups, f"no {pattern} events"
    return groups


def _role(entities: pd.DataFrame, group: str, role: str) -> set[str]:
    e = entities[(entities.group_id == group) & (entities.role == role)]
    return set(e.entity_id)


def test_every_pattern_present_with_events_and_entities(world: SimulationSummary, entities: pd.DataFrame) -> None:
    assert set(world.fraud_events_by_pattern) == set(PATTERN_NAMES)
    assert set(entities.pattern) == set(PATTERN_NAMES)
    assert entities.role.notna().all() and entities.group_id.notna().all()


def test_labels_are_consistent(tx: pd.DataFrame) -> None:
    fraud = tx[tx.label_is_fraud]
    assert fraud.label_pattern.notna().all() and fraud.label_group.notna().all()
    assert tx[~tx.label_is_fraud].label_pattern.isna().all()
    assert 0 < len(fraud) < 0.05 * len(tx)


def test_fund_loops_close_with_rising_times_and_shrinking_amounts(tx: pd.DataFrame) -> None:
    for g in _groups(tx, "fund_loop"):
        assert 3 <= len(g) <= 7
        src, dst = g.account_id.tolist(), g.counterparty_account.tolist()
        assert dst[:-1] == src[1:], "each hop starts where the previous one ended"
        assert dst[-1] == src[0], "the loop returns to its origin"
        assert g.event_time.is_monotonic_increasing and g.event_time.is_unique
        ratio = g.amount.to_numpy()[1:] / g.amount.to_numpy()[:-1]
        assert ((ratio >= 0.949) & (ratio <= 0.991)).all()
        assert g.event_time.iloc[-1] - g.event_time.iloc[0] < pd.Timedelta(days=10)


def test_mule_fan_in_then_cash_out(tx: pd.DataFrame, entities: pd.DataFrame) -> None:
    for g in _groups(tx, "mule_fan_in"):
        (mule,) = _role(entities, g.label_group.iloc[0], "mule") & set(g.counterparty_account)
        incoming = g[(g.counterparty_account == mule) & (g.txn_type == "transfer")]
        assert incoming.customer_id.nunique() >= 8
        assert incoming.event_time.max() - incoming.event_time.min() < pd.Timedelta(hours=12)
        out = g[g.account_id == mule]
        assert "withdrawal" in set(out.txn_type)
        assert out.event_time.min() > incoming.event_time.max()
        assert out.event_time.min() - incoming.event_time.max() < pd.Timedelta(hours=2)


def test_card_testing_bursts(tx: pd.DataFrame) -> None:
    for g in _groups(tx, "card_testing"):
        assert g.card_id.nunique() == 1
        small = g[g.amount < 5.0]
        assert len(small) >= 8
        assert small.event_time.max() - small.event_time.min() < 30 * MINUTE
        assert (g.status == "failed").any() or len(small) >= 8
        assert g.amount.iloc[-1] > 500 and g.status.iloc[-1] == "success"


def test_impossible_travel(tx: pd.DataFrame) -> None:
    idx = {c: i for i, c in enumerate(CITY_NAMES)}
    for g in _groups(tx, "impossible_travel"):
        assert len(g) == 2 and g.card_id.nunique() == 1
        a, b = (idx[c] for c in g.city)
        assert haversine_km(CITY_LAT[a], CITY_LON[a], CITY_LAT[b], CITY_LON[b]) > 500
        assert g.event_time.iloc[1] - g.event_time.iloc[0] < 60 * MINUTE


def test_fraud_ring_members_share_identifiers(world: SimulationSummary, entities: pd.DataFrame) -> None:
    loans = read(world.out_dir, "loan_application")
    for g in _groups(loans, "fraud_ring"):
        assert len(g) >= 4
        assert g.device_id.nunique() < len(g) and g.phone.nunique() < len(g)
        assert g.address.nunique() == 1
        assert set(g.device_id) <= _role(entities, g.label_group.iloc[0], "shared_device")
        assert set(g.customer_id) == _role(entities, g.label_group.iloc[0], "ring_member") & set(g.customer_id)


def test_organised_loan_fraud(world: SimulationSummary) -> None:
    loans = read(world.out_dir, "loan_application")
    for g in _groups(loans, "loan_fraud"):
        assert len(g) >= 3 and g.device_id.nunique() == 1
        assert (g.phone_home_city != g.ip_city).all()
        assert (g.event_time.diff().dropna() <= 10 * MINUTE).all()


def test_marketing_abuse_many_accounts_one_device(world: SimulationSummary) -> None:
    regs = read(world.out_dir, "registration")
    for g in _groups(regs, "marketing_abuse"):
        assert len(g) >= 10 and g.device_id.nunique() == 1
        assert g.promo_code.notna().all()
        assert g.event_time.max() - g.event_time.min() < pd.Timedelta(hours=6)


def test_account_takeover(world: SimulationSummary, tx: pd.DataFrame, entities: pd.DataFrame) -> None:
    logins = read(world.out_dir, "login")
    customers = pd.read_parquet(world.out_dir / "reference" / "customers.parquet").set_index("customer_id")
    for g in _groups(logins, "account_takeover"):
        group = g.label_group.iloc[0]
        ok = g[g.success]
        assert len(ok) == 1
        victim = ok.customer_id.iloc[0]
        assert ok.device_id.iloc[0] in _role(entities, group, "attacker_device")
        assert ok.ip_city.iloc[0] != customers.loc[victim, "city"]
        moves = tx[(tx.label_group == group) & (tx.customer_id == victim)]
        assert (moves.event_time > ok.event_time.iloc[0]).all() and len(moves) >= 1
        assert set(moves.counterparty_account) <= _role(entities, group, "mule")
        assert (moves.amount >= 5000).all()


def test_phishing(world: SimulationSummary, tx: pd.DataFrame, entities: pd.DataFrame) -> None:
    logins = read(world.out_dir, "login")
    for g in _groups(logins, "phishing"):
        group = g.label_group.iloc[0]
        (login,) = g.itertuples()
        assert login.ip in _role(entities, group, "phishing_ip")
        (pay,) = tx[tx.label_group == group].itertuples()
        assert pay.customer_id == login.customer_id and pay.event_time > login.event_time
        assert pay.counterparty_account in _role(entities, group, "fraudster_account")


def test_claim_fraud(world: SimulationSummary) -> None:
    claims = read(world.out_dir, "claim")
    policies = read(world.out_dir, "insurance_policy").set_index("policy_id")
    for g in _groups(claims, "claim_fraud"):
        assert g.card_id.nunique() == 1 and g.customer_id.nunique() >= 2
        assert (g.days_since_policy_start <= 7).all()
        insured = policies.loc[g.policy_id, "sum_insured"].to_numpy()
        assert (g.amount.to_numpy() >= 0.6 * insured).all()
    legit = claims[~claims.label_is_fraud]
    if len(legit):
        assert legit.card_id.value_counts().max() <= 3


@pytest.mark.parametrize("pattern", PATTERN_NAMES)
def test_each_pattern_labels_its_entities(entities: pd.DataFrame, pattern: str) -> None:
    e = entities[entities.pattern == pattern]
    assert len(e) >= 1
    assert np.all(e.group_id.str.startswith(pattern))
