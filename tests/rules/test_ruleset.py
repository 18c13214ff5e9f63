"""Rule-set files: parsing, errors with file/line/column, fingerprints, reasons and evaluation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from finrisk.errors import RuleSetError, RuleSyntaxError
from finrisk.events import EventTypeRegistry
from finrisk.rules import Action, Policy, RuleNames, RuleSetResult, load_ruleset, parse_ruleset

BASE = """\
name: payments
description: test rules
policy: score
levels:
  low:      {min_score: 0,  action: pass}
  medium:   {min_score: 40, action: challenge, method: sms_otp}
  high:     {min_score: 70, action: review}
  critical: {min_score: 90, action: reject}
rules:
  - name: login_many_devices
    description: One account logged in on many devices (account takeover).
    events: [login]
    when: features.customer_login_devices_24h >= 3
    action: challenge
    method: face
    score: 40
    reason: "Logged in on {features.customer_login_devices_24h} devices in 24 hours"
  - name: big_transfer
    events: transaction
    when: |
      event.txn_type == 'transfer'
        and event.amount >= 5000
    score: 50
    reason: Transfer of {event.amount}
  - name: blacklisted_device
    when: lists.blacklist.contains(event.device_id)
    action: reject
    reason: Device on the blacklist
  - name: old_rule
    when: event.amount > 0
    action: review
    enabled: false
"""


def test_parse_the_documented_shape() -> None:
    rs = parse_ruleset(BASE, file="payments.yaml")
    assert (rs.name, rs.description, rs.policy) == ("payments", "test rules", Policy.SCORE)
    assert [lv.name for lv in rs.levels] == ["low", "medium", "high", "critical"]
    assert [r.name for r in rs.rules] == ["login_many_devices", "big_transfer", "blacklisted_device", "old_rule"]
    login = rs.rules[0]
    assert login.events == ("login",) and login.action is Action.CHALLENGE and login.method == "face"
    assert rs.rules[1].events == ("transaction",) and rs.rules[1].action is None and rs.rules[1].score == 50
    assert rs.rules[3].enabled is False
    assert rs.text == BASE and rs.rules[0].line == 10


def test_fingerprint_covers_meaning_not_formatting() -> None:
    a = parse_ruleset(BASE)
    reformatted = parse_ruleset("# a comment\n" + BASE.replace("{min_score: 0,  action: pass}",
                                                                 "{action: pass, min_score: 0}"))
    assert a.fingerprint == reformatted.fingerprint and len(a.fingerprint) == 64
    changed = parse_ruleset(BASE.replace(">= 3", ">= 4"))
    assert changed.fingerprint != a.fingerprint


def test_load_from_file_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "r.yaml"
    path.write_text(BASE.replace("    action: reject", "    action: block"), encoding="utf-8")
    with pytest.raises(RuleSetError, match=r"r\.yaml:27: rule 'blacklisted_device': 'action' must be one of "
                                           r"pass, challenge, review, reject, got 'block'"):
        load_ruleset(path)
    with pytest.raises(RuleSetError, match="file not found"):
        load_ruleset(tmp_path / "missing.yaml")


def rule_error(extra: str) -> RuleSetError:
    with pytest.raises(RuleSetError) as info:
        parse_ruleset(BASE + extra, file="rules.yaml")
    return info.value


@pytest.mark.parametrize(("extra", "line", "message"), [
    ("  - name: big_transfer\n    when: true\n    action: pass\n", 33, "duplicate rule name \\(first at line 18\\)"),
    ("  - name: x\n    when: true\n    acton: pass\n", 35,
     "unknown key 'acton' in a rule \\(did you mean 'action'\\?\\)"),
    ("  - name: x\n    when: true\n", 33, "needs an action or a score"),
    ("  - name: x\n    action: pass\n", 33, "needs a condition under 'when'"),
    ("  - name: x\n    when: true\n    action: review\n    method: face\n", 36, "method only goes with"),
    ("  - name: x\n    when: true\n    action: challenge\n    method: fingerprint\n", 36,
     "'method' must be one of sms_otp, security_question, face"),
    ("  - name: x\n    when: true\n    score: lots\n", 35, "'score' must be a finite number, got 'lots'"),
    ("  - name: x\n    when: true\n    score: .nan\n", 35, "'score' must be a finite number"),
    ("  - name: x\n    when: true\n    action: pass\n    enabled: maybe\n", 36, "'enabled' must be true or false"),
    ("  - name: x\n    when: true\n    action: pass\n    events: []\n", 36, "'events' must be an event type"),
    ("  - name: x\n    when: true\n    action: pass\n    events: [login, login]\n", 36, "names an event type twice"),
    ("  - name: Bad-Name\n    when: true\n    action: pass\n", 33, "needs a name of letters"),
    ("  - name: x\n    when: 5\n    action: pass\n", 34, "'when' must be text, got 5"),
    ("  - name: x\n    when: true\n    action: pass\n    reason: '{event.amount:>99999}'\n", 36,
     "placeholder is written \\{namespace.name\\}"),
    ("  - name: x\n    when: true\n    action: pass\n    reason: 'a {b'\n", 36, "never closed"),
    ("  - just text\n", 33, "must be a mapping"),
])
def test_rule_errors_name_file_line_rule_and_problem(extra: str, line: int, message: str) -> None:
    err = rule_error(extra)
    assert err.file == "rules.yaml" and err.line == line, str(err)
    assert err.http_status == 422
    assert str(err).startswith(f"rules.yaml:{line}: ")
    pytest.raises(RuleSetError, parse_ruleset, BASE + extra).match(message)


@pytest.mark.parametrize(("text", "line", "message"), [
    ("name: x\nrules: []\nextra: 1\n", 3, "unknown key 'extra' in the rule set"),
    ("rules: []\n", 1, "needs a name"),
    ("name: x\npolicy: average\n", 2, "'policy' must be one of strongest, score, got 'average'"),
    ("name: x\nlevels: {}\n", 2, "levels must map level names"),
    ("name: x\nlevels:\n  low: {min_score: 0}\n", 3, "level 'low' needs 'action'"),
    ("name: x\nlevels:\n  low: {min_score: 0, action: pass}\n  high: {min_score: 0, action: review}\n", 4,
     "min_score must be above the previous level's"),
    ("name: x\nlevels:\n  low: {min_score: 0, action: review}\n  high: {min_score: 5, action: pass}\n", 4,
     "weaker than the previous level's"),
    ("name: x\nlevels:\n  low: {min_score: 0, action: pass, method: face}\n", 3, "method only goes with"),
    ("name: x\nrules: {a: 1}\n", 2, "'rules' must be a list"),
    ("name: x\nrules: [\n", 3, "YAML syntax error"),
    ("- 1\n", 1, "a rule set is a mapping"),
])
def test_top_level_errors(text: str, line: int, message: str) -> None:
    with pytest.raises(RuleSetError, match=message) as info:
        parse_ruleset(text, file="f.yaml")
    assert info.value.line == line


def test_condition_errors_point_into_the_file() -> None:
    plain = BASE + "  - name: x\n    when: event.amount > 5 and open('f')\n    action: pass\n"
    with pytest.raises(RuleSyntaxError) as info:
        parse_ruleset(plain, file="rules.yaml")
    err = info.value
    assert (err.file, err.rule, err.line, err.column) == ("rules.yaml", "x", 34, 32)
    assert str(err).split("\n")[1:] == ["        when: event.amount > 5 and open('f')", "    " + " " * 31 + "^"]

    block = BASE + "  - name: y\n    when: |\n      event.amount > 5\n        and event.__class__\n    score: 1\n"
    with pytest.raises(RuleSyntaxError) as info:
        parse_ruleset(block)
    assert (info.value.line, info.value.column) == (36, 19)

    quoted = BASE + "  - name: z\n    when: \"event.amount > 5 and\n      event.x.y\"\n    score: 1\n"
    with pytest.raises(RuleSyntaxError) as info:
        parse_ruleset(quoted)
    assert (info.value.line, info.value.column) == (35, 7)


def test_names_are_checked_at_compile_time_with_positions() -> None:
    names = RuleNames.from_registry(EventTypeRegistry.builtin(), features=["customer_login_devices_24h"], lists=None)
    rs = parse_ruleset(BASE)
    rs.compile(names)  # every name exists
    bad = parse_ruleset(BASE.replace("features.customer_login_devices_24h >=", "features.customer_logins_24h >="))
    with pytest.raises(RuleSyntaxError, match="unknown feature 'customer_logins_24h' "
                                              "\\(did you mean 'customer_login_devices_24h'\\?\\)") as info:
        bad.compile(names)
    assert (info.value.line, info.value.column, info.value.rule) == (13, 20, "login_many_devices")
    with pytest.raises(RuleSetError, match="unknown event type 'logins' \\(did you mean 'login'\\?\\)"):
        parse_ruleset(BASE.replace("events: [login]", "events: [logins]")).compile(names)
    with pytest.raises(RuleSyntaxError, match="'amount' is not a field of the rule's events \\(login\\)"):
        parse_ruleset(BASE.replace(">= 3\n", ">= 3 and event.amount > 1\n")).compile(names)
    with pytest.raises(RuleSetError, match="reason: event.phone is personal data"):
        parse_ruleset(BASE.replace("Transfer of {event.amount}", "Transfer from {event.phone}")).compile(names)
    with pytest.raises(RuleSetError, match="reason: unknown features name 'nope'"):
        parse_ruleset(BASE.replace("Transfer of {event.amount}", "x {features.nope}")).compile(names)


class Lists:
    def __init__(self, **members: set[str]) -> None:
        self.members = members

    def contains(self, list_name: str, value: object, at_us: int) -> bool:
        return value in self.members.get(list_name, set())


def test_evaluate_score_policy_with_hard_rules_and_reasons() -> None:
    compiled = parse_ruleset(BASE).compile()
    login = {"event_type": "login", "device_id": "D1"}
    nothing = compiled.evaluate(login, {"customer_login_devices_24h": 1})
    assert (nothing.action, nothing.risk_level, nothing.score, nothing.hits) == (Action.PASS, "low", 0.0, ())

    r = compiled.evaluate(login, {"customer_login_devices_24h": 3})
    assert (r.action, r.challenge_method, r.risk_level, r.score) == (Action.CHALLENGE, "face", "medium", 40.0)
    assert r.reasons == ("Logged in on 3 devices in 24 hours",)

    transfer = {"event_type": "transaction", "txn_type": "transfer", "amount": 7000.0, "device_id": "D9"}
    r = compiled.evaluate(transfer, {}, lists=Lists(blacklist={"D9"}), at_us=1)
    assert r.action is Action.REJECT and r.risk_level == "critical" and r.score == 50.0
    assert [h.rule for h in r.hits] == ["big_transfer", "blacklisted_device"]  # file order
    assert r.reasons == ("Device on the blacklist", "Transfer of 7000")  # strongest first
    assert json.loads(json.dumps(r.to_dict()))["hits"][1] == {
        "rule": "blacklisted_device", "action": "reject", "score": 0.0, "reason": "Device on the blacklist"}

    # the disabled rule never hits; a rule limited to logins ignores transactions
    r = compiled.evaluate(transfer, {"customer_login_devices_24h": 9})
    assert [h.rule for h in r.hits] == ["big_transfer"] and r.action is Action.CHALLENGE


def test_evaluate_strongest_policy() -> None:
    compiled = parse_ruleset(BASE.replace("policy: score", "policy: strongest")).compile()
    transfer = {"event_type": "transaction", "txn_type": "transfer", "amount": 7000.0}
    r = compiled.evaluate(transfer, {})
    assert (r.action, r.risk_level, r.score) == (Action.PASS, "low", 50.0)  # score alone decides nothing


def test_reason_values_render_for_people() -> None:
    text = BASE.replace("Transfer of {event.amount}", "Seen {event.amount} / {features.z} / {models.m} / {profile.p} "
                                                      "/ {{literal}}")
    compiled = parse_ruleset(text).compile()
    event = {"event_type": "transaction", "txn_type": "transfer", "amount": 12345.678}
    r = compiled.evaluate(event, {"z": None}, {"m": 0.5}, {"p": "x" * 100})
    assert r.reasons[0] == "Seen 12345.68 / unknown / 0.5 / " + "x" * 63 + "… / {literal}"


def test_rule_set_without_levels_uses_the_defaults_and_empty_rules() -> None:
    rs = parse_ruleset("name: empty\n")
    assert rs.rules == () and [lv.name for lv in rs.levels] == ["low", "medium", "high", "critical"]
    assert rs.compile().evaluate({"event_type": "login"}) == RuleSetResult(Action.PASS, None, "low", 0.0, (), ())


def test_when_true_from_yaml_boolean() -> None:
    rs = parse_ruleset("name: s\nrules:\n  - name: always\n    when: true\n    action: review\n")
    assert rs.compile().evaluate({}).action is Action.REVIEW


def test_references_cover_conditions_and_reasons() -> None:
    compiled = parse_ruleset(BASE).compile()
    assert compiled.references["features"] == {"customer_login_devices_24h"}
    assert compiled.references["event"] == {"txn_type", "amount", "device_id"}
    assert compiled.references["lists"] == {"blacklist"}
