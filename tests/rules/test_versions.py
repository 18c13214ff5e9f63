"""Rule-set versions: drafts, publish, history, diff, rollback, shadow, audit and racing publishers."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from finrisk.errors import InputFileError, RuleSetConflictError, RuleSetNotFoundError, RuleSetVersionError
from finrisk.rules.versions import RuleSetRepository, content_hash
from finrisk.store.relational import Database, open_database

from ._relational import BACKENDS, fresh_database

V1 = """\
name: payments
policy: strongest
rules:
  - name: big_amount
    when: event.amount > 5000
    action: review
  - name: new_device
    when: features.device_age_days < 1
    action: challenge
"""
V2 = V1.replace("5000", "9000").replace("strongest", "score") + """\
  - name: many_senders
    when: features.senders_24h >= 10
    action: review
"""


@pytest.fixture(params=BACKENDS)
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    opened = fresh_database(request.param, tmp_path)
    yield opened
    opened.close()


@pytest.fixture
def repo(db: Database) -> RuleSetRepository:
    return RuleSetRepository(db)


class Invalid(Exception):
    pass


def _reject_forbidden(text: str) -> None:
    if "forbidden" in text:
        raise Invalid("line 3: 'forbidden' is not allowed")


def test_drafts_are_saved_overwritten_and_discarded(repo: RuleSetRepository) -> None:
    assert repo.draft("payments") is None
    repo.save_draft("payments", V1, author="ana")
    second = repo.save_draft("payments", V2, author="bo")
    draft = repo.draft("payments")
    assert draft is not None and (draft.text, draft.author, draft.saved_at) == (V2, "bo", second.saved_at)
    assert repo.names() == ["payments"]
    repo.discard_draft("payments", author="bo")
    assert repo.draft("payments") is None and repo.names() == []
    with pytest.raises(RuleSetNotFoundError, match=r"name: rule set 'payments' .*has no draft"):
        repo.discard_draft("payments")
    assert [r.action for r in repo.audit("payments")] == ["discard_draft", "save_draft", "save_draft"]


def test_publish_numbers_versions_and_consumes_the_draft(repo: RuleSetRepository) -> None:
    repo.save_draft("payments", V1, author="ana")
    v1 = repo.publish("payments", author="ana", message="first cut")
    assert (v1.version, v1.text, v1.content_hash, v1.author, v1.message) == (
        1, V1, content_hash(V1), "ana", "first cut")
    assert repo.draft("payments") is None
    v2 = repo.publish("payments", author="bo", message="tighter", text=V2)
    assert v2.version == 2 and v2.created_at >= v1.created_at
    assert repo.published("payments") == v2 and repo.get("payments", 1) == v1
    assert [v.version for v in repo.history("payments")] == [2, 1]
    assert v1.to_dict(with_text=False) == {
        "name": "payments", "version": 1, "content_hash": content_hash(V1), "author": "ana",
        "message": "first cut", "created_at": v1.created_at.isoformat().replace("+00:00", "Z")}


def test_publishing_the_live_content_again_is_refused(repo: RuleSetRepository) -> None:
    repo.publish("payments", author="ana", message="m", text=V1)
    with pytest.raises(RuleSetConflictError, match=r"text: identical to the live version 1 of 'payments'"):
        repo.publish("payments", author="ana", message="again", text=V1)
    assert [v.version for v in repo.history("payments")] == [1]


def test_nothing_to_publish_and_unknown_versions(repo: RuleSetRepository) -> None:
    with pytest.raises(RuleSetNotFoundError, match=r"rule set 'payments' has no draft to publish"):
        repo.publish("payments", author="ana", message="m")
    with pytest.raises(RuleSetNotFoundError, match=r"name: no published rule set named 'payments'"):
        repo.published("payments")
    with pytest.raises(RuleSetNotFoundError, match=r"no published rule set named 'payments'"):
        repo.history("payments")
    repo.publish("payments", author="ana", message="m", text=V1)
    with pytest.raises(RuleSetNotFoundError, match=r"version: rule set 'payments' has versions 1 to 1, got 7"):
        repo.get("payments", 7)
    with pytest.raises(RuleSetVersionError, match=r"version: expected an integer >= 1, got 0"):
        repo.get("payments", 0)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": "Payments!"}, r"name: expected a lower-case name .* got 'Payments!'"),
        ({"author": " "}, r"author: expected a non-empty text of at most 128 characters, got ' '"),
        ({"message": ""}, r"message: expected a non-empty text, got ''"),
        ({"text": "   "}, r"text: expected the rule set's YAML text"),
    ],
)
def test_bad_publish_arguments_name_the_field(repo: RuleSetRepository, kwargs: dict[str, str], message: str) -> None:
    args = {"name": "payments", "author": "ana", "message": "m", "text": V1, **kwargs}
    with pytest.raises(RuleSetVersionError, match=message):
        repo.publish(args.pop("name"), **args)


def test_an_invalid_text_raises_the_validators_error_and_stores_nothing(db: Database) -> None:
    repo = RuleSetRepository(db, validate=_reject_forbidden)
    bad = V1 + "  - name: forbidden\n"
    with pytest.raises(Invalid, match="line 3"):
        repo.save_draft("payments", bad, author="ana")
    with pytest.raises(Invalid, match="line 3"):
        repo.publish("payments", author="ana", message="m", text=bad)
    assert repo.names() == [] and repo.audit() == []
    repo.publish("payments", author="ana", message="ok", text=V1)
    assert repo.published("payments").version == 1


def test_rollback_publishes_old_text_as_a_new_version(repo: RuleSetRepository) -> None:
    repo.publish("payments", author="ana", message="v1", text=V1)
    repo.publish("payments", author="ana", message="v2", text=V2)
    back = repo.rollback("payments", 1, author="bo", message="v2 refused good customers")
    assert (back.version, back.text, back.author) == (3, V1, "bo")
    assert [v.version for v in repo.history("payments")] == [3, 2, 1]
    assert repo.get("payments", 2).text == V2  # history is never rewritten
    record = repo.audit("payments", limit=1)[0]
    assert (record.action, record.actor, record.old, record.new) == ("rollback", "bo", {"version": 2}, {
        "version": 3, "content_hash": content_hash(V1), "message": "v2 refused good customers", "from_version": 1})
    with pytest.raises(RuleSetConflictError, match="identical to the live version 3"):
        repo.rollback("payments", 1, author="bo", message="again")


def test_diff_summarises_rules_added_removed_and_changed(repo: RuleSetRepository) -> None:
    repo.publish("payments", author="ana", message="v1", text=V1)
    v3 = V2.replace("  - name: new_device\n    when: features.device_age_days < 1\n    action: challenge\n", "")
    repo.publish("payments", author="ana", message="v2", text=v3)
    d = repo.diff("payments", 1, 2)
    assert d.summarised
    assert d.added == ("many_senders",) and d.removed == ("new_device",)
    assert [(c.rule, c.keys) for c in d.changed] == [("big_amount", ("when",))]
    assert d.settings == ("policy",)
    assert "--- payments v1" in d.unified and "-    when: event.amount > 5000" in d.unified
    assert "+    when: event.amount > 9000" in d.unified
    assert d.to_dict()["changes"][0] == {"rule": "big_amount", "change": "changed", "keys": ["when"]}
    back = repo.diff("payments", 2, 1)
    assert back.added == ("new_device",) and back.removed == ("many_senders",)


def test_diff_of_texts_without_rules_is_text_only(repo: RuleSetRepository) -> None:
    repo.publish("odd", author="a", message="m", text="just: [a, mapping\n")
    repo.publish("odd", author="a", message="m", text="rules: [1, 2]\n")
    d = repo.diff("odd", 1, 2)
    assert not d.summarised and d.changes == () and "+rules: [1, 2]" in d.unified


def test_shadow_is_set_replaced_cleared_and_audited(repo: RuleSetRepository) -> None:
    repo.publish("payments", author="ana", message="v1", text=V1)
    repo.publish("payments", author="ana", message="v2", text=V2)
    assert repo.shadow("payments") is None
    assert repo.set_shadow("payments", 1, author="bo") == repo.get("payments", 1)
    assert repo.shadow("payments") == repo.get("payments", 1)
    repo.set_shadow("payments", 2, author="bo")
    assert repo.shadow("payments") == repo.get("payments", 2)
    with pytest.raises(RuleSetNotFoundError, match=r"has versions 1 to 2, got 9"):
        repo.set_shadow("payments", 9, author="bo")
    repo.set_shadow("payments", None, author="cy")
    assert repo.shadow("payments") is None
    actions = [(r.action, r.actor, r.old, r.new) for r in repo.audit("payments", limit=3)]
    assert actions == [("clear_shadow", "cy", {"version": 2}, None), ("set_shadow", "bo", {"version": 1},
                       {"version": 2}), ("set_shadow", "bo", None, {"version": 1})]


def test_publishing_the_shadow_text_clears_the_shadow(repo: RuleSetRepository) -> None:
    repo.publish("payments", author="ana", message="v1", text=V1)
    repo.publish("payments", author="ana", message="v2", text=V2)
    repo.rollback("payments", 1, author="ana", message="back")
    repo.set_shadow("payments", 2, author="ana")
    repo.publish("payments", author="ana", message="shadow looked good", text=V2)
    assert repo.shadow("payments") is None
    assert repo.audit("payments", limit=1)[0].new == {"reason": "its text was published"}


def test_live_at_answers_which_version_was_in_force(repo: RuleSetRepository) -> None:
    v1 = repo.publish("payments", author="ana", message="v1", text=V1)
    v2 = repo.publish("payments", author="ana", message="v2", text=V2)
    assert repo.live_at("payments", v1.created_at - timedelta(seconds=1)) is None
    assert repo.live_at("payments", v1.created_at) == v1
    assert repo.live_at("payments", datetime.now(UTC) + timedelta(days=1)) == v2


def test_publish_from_file_takes_the_name_from_yaml_or_stem(repo: RuleSetRepository, tmp_path: Path) -> None:
    named = tmp_path / "whatever.yaml"
    named.write_text(V1)
    assert repo.publish_from_file(named, author="ana", message="m").name == "payments"
    plain = tmp_path / "login-rules.yaml"
    plain.write_text("rules: []\n")
    assert repo.publish_from_file(plain, author="ana", message="m").name == "login-rules"
    assert repo.publish_from_file(plain, author="ana", message="m", name="other").name == "other"
    with pytest.raises(InputFileError, match=r"nope.yaml: no such file"):
        repo.publish_from_file(tmp_path / "nope.yaml", author="ana", message="m")


def test_racing_publishers_never_share_a_version_number(db: Database) -> None:
    url = db.engine.url.render_as_string(hide_password=False)
    results: list[int] = []
    conflicts: list[str] = []

    def publish(i: int) -> None:
        with open_database(url) as own:  # one engine per publisher, like separate processes
            repo = RuleSetRepository(own)
            for j in range(5):
                try:
                    results.append(repo.publish("payments", author=f"p{i}", message="m",
                                                text=V1 + f"# {i}-{j}\n").version)
                except RuleSetConflictError as exc:
                    conflicts.append(str(exc))

    threads = [threading.Thread(target=publish, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all("another publisher" in c for c in conflicts)
    assert sorted(results) == list(range(1, len(results) + 1)) and len(results) + len(conflicts) == 20
    history = RuleSetRepository(db).history("payments")
    assert [v.version for v in history] == list(range(len(results), 0, -1))


def test_racing_publishers_of_the_same_text_publish_it_once(db: Database) -> None:
    url = db.engine.url.render_as_string(hide_password=False)
    outcomes: list[str] = []

    def publish() -> None:
        with open_database(url) as own:
            try:
                version = RuleSetRepository(own).publish("payments", author="a", message="m", text=V1)
                outcomes.append(str(version.version))
            except RuleSetConflictError:
                outcomes.append("refused")

    threads = [threading.Thread(target=publish) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["1", "refused", "refused", "refused"]
