from __future__ import annotations

import pytest

from finrisk._yamlfile import parse_yaml
from finrisk.errors import WorkspaceError
from finrisk.events import EventTypeRegistry
from finrisk.features.spec import Aggregation, DerivedFeature, WindowFeature, parse_duration, parse_features

REG = EventTypeRegistry.builtin()

GOOD = """\
features:
  cust_transfers_1h:
    key: customer_id
    events: [transaction]
    filter: "txn_type == 'transfer'"
    agg: count
    window: 1h
  cust_amount_mean_30d: {key: customer_id, events: transaction, agg: mean, field: amount, window: 30d}
  cust_amount_std_30d: {key: customer_id, events: transaction, agg: std, field: amount, window: 30d}
  amount_z: {derive: zscore, inputs: [amount, cust_amount_mean_30d, cust_amount_std_30d]}
  merchant_chargebacks_37d_7d:
    key: merchant_id
    events: [chargeback]
    agg: count
    window: 30d
    lag: 7d
    time_field: ref_time
  cust_device_first_seen: {key: [customer_id, device_id], events: [login, transaction], agg: first_seen}
"""


def test_good_declarations_parse_in_order() -> None:
    fs = parse_features(parse_yaml(GOOD, "features.yaml"), REG)
    assert fs.names[:4] == ["cust_transfers_1h", "cust_amount_mean_30d", "cust_amount_std_30d", "amount_z"]
    first = fs.features[0]
    assert isinstance(first, WindowFeature) and first.window_us == parse_duration("1h")
    assert first.filter is not None and first.filter.matches({"txn_type": "transfer"})
    assert isinstance(fs.features[3], DerivedFeature)
    lagged = fs.features[4]
    assert isinstance(lagged, WindowFeature) and lagged.lag_us == parse_duration("7d")
    assert fs.features[5].key == ("customer_id", "device_id")  # type: ignore[union-attr]
    assert fs.features[5].agg is Aggregation.FIRST_SEEN  # type: ignore[union-attr]
    # mean and std over the same customer window share one state group
    groups = fs.groups()
    assert any({f.name for f in g} == {"cust_amount_mean_30d", "cust_amount_std_30d"} for g in groups.values())


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("  f: {key: customer_id, events: [transaction], agg: median, window: 1h}",
         r"features.yaml:2: feature 'f': 'agg' must be one of count, sum, .*got 'median'"),
        ("  f: {key: customer_id, events: [transaction], agg: count, window: -5m}",
         r"features.yaml:2: feature 'f': 'window': expected a duration such as 10m.*got '-5m'"),
        ("  f: {key: customer_id, events: [transaction], agg: sum, window: 1h}",
         r"feature 'f': aggregation 'sum' needs a 'field'"),
        ("  f: {key: customer_id, events: [transaction], agg: sum, field: merchant_id, window: 1h}",
         r"feature 'f': sum needs a number field; transaction.merchant_id is string"),
        ("  f: {key: phone, events: [transaction], agg: count, window: 1h}",
         r"feature 'f': key field 'phone' is not a field of transaction events"),
        ("  f: {key: customer_id, events: [transfer], agg: count, window: 1h}",
         r"feature 'f': unknown event type 'transfer'"),
        ("  f: {key: customer_id, events: [transaction], agg: count, window: 1h, filter: \"__import__('os')\"}",
         r"feature 'f': filter .*expected a comparison"),
        ("  f: {key: customer_id, events: [transaction], agg: count, window: 1h, filter: \"amount > 'big'\"}",
         r"filter compares transaction.amount \(float\) with 'big'"),
        ("  f: {key: customer_id, events: [transaction], agg: count, window: 1h, filter: \"colour == 'red'\"}",
         r"filter uses 'colour', which is not a field of transaction events"),
        ("  f: {derive: ratio, inputs: [a_feature_below, amount]}",
         r"input 'a_feature_below' is neither a feature declared above nor an event field"),
        ("  f: {key: customer_id, events: [login], agg: first_seen, window: 1h}",
         r"first_seen has no window"),
    ],
)
def test_bad_declarations_name_file_line_feature_and_problem(body: str, message: str) -> None:
    with pytest.raises(WorkspaceError, match=message):
        parse_features(parse_yaml("features:\n" + body + "\n", "features.yaml"), REG)
