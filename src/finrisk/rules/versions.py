"""Rule-set versions: drafts, immutable published versions, diff, rollback and shadow, all audited.

A rule set is stored as its YAML **text** by name, so what was published is exactly what an
analyst wrote (comments included) and can be exported back to a file. Publishing makes version
N+1; versions are never changed or deleted, and a rollback publishes the old text again as a new
version, so history only grows. The live version of a rule set is its newest version; a *shadow*
version is evaluated on live traffic without affecting the action.

The repository does not parse rules itself: ``validate(text)`` is injected (wired to the rule
parser), and whatever it raises on a bad text propagates with nothing stored. :func:`diff_texts`
reads the texts as plain YAML for its per-rule summary, so it works on any version ever stored.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import Connection, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from finrisk.errors import InputFileError, RuleSetConflictError, RuleSetNotFoundError, RuleSetVersionError
from finrisk.events.validate import describe_value
from finrisk.rules._ruleset_diff import RuleChange, RuleSetDiff, diff_texts
from finrisk.store.relational import (
    ACTOR_LENGTH,
    AuditRecord,
    Database,
    datetime_to_us,
    now_us,
    read_audit,
    record_audit,
    ruleset_drafts,
    ruleset_shadows,
    ruleset_versions,
    us_to_datetime,
)

__all__ = ["RuleChange", "RuleSetDiff", "RuleSetDraft", "RuleSetRepository", "RuleSetVersion", "content_hash"]

_OBJECT = "ruleset"
_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")
_NAME_RULE = "a lower-case name (a-z, 0-9, _ and -; starting with a letter; at most 64 characters)"
MAX_TEXT = 1_000_000


def _shown(value: object) -> str:
    """A name as it goes into an error text: quoted when it is a short string, described otherwise."""
    return repr(value) if isinstance(value, str) and len(value) <= 64 else describe_value(value)


def content_hash(text: str) -> str:
    """SHA-256 of the exact text (two versions are 'identical' when their texts are byte-equal)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class RuleSetVersion:
    """One published, immutable version of a rule set."""

    name: str
    version: int
    text: str
    content_hash: str
    author: str
    message: str
    created_at: datetime

    def to_dict(self, *, with_text: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name, "version": self.version, "content_hash": self.content_hash, "author": self.author,
            "message": self.message, "created_at": self.created_at.isoformat().replace("+00:00", "Z"),
        }
        if with_text:
            out["text"] = self.text
        return out


@dataclass(frozen=True)
class RuleSetDraft:
    """The one current draft of a rule set (saving again overwrites it)."""

    name: str
    text: str
    author: str
    saved_at: datetime


def _check_name(value: object) -> str:
    if not isinstance(value, str) or not _NAME.match(value):
        raise RuleSetVersionError(f"name: expected {_NAME_RULE}, got {describe_value(value)}")
    return value


def _check_text(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise RuleSetVersionError(f"text: expected the rule set's YAML text, got {describe_value(value)}")
    if len(value) > MAX_TEXT:
        raise RuleSetVersionError(f"text: expected at most {MAX_TEXT:,} characters, got {len(value):,}")
    return value


def _check_words(field: str, value: object, limit: int | None = ACTOR_LENGTH) -> str:
    if not isinstance(value, str) or not value.strip() or (limit is not None and len(value) > limit):
        most = f" of at most {limit} characters" if limit is not None else ""
        raise RuleSetVersionError(f"{field}: expected a non-empty text{most}, got {describe_value(value)}")
    return value.strip()


def _version_of(row: Any) -> RuleSetVersion:
    return RuleSetVersion(row["name"], row["version"], row["text"], row["content_hash"], row["author"],
                          row["message"], us_to_datetime(row["created_at_us"]))


class RuleSetRepository:
    """Drafts, published versions, diff, rollback and shadow of rule sets, in the relational store.

    Parameters
    ----------
    db : Database
        The relational store (:func:`finrisk.store.relational.open_database`).
    validate : callable, optional
        Called with a text before it is saved or published; whatever it raises propagates and
        nothing is stored (the lead wires it to the rule parser).

    Examples
    --------
    >>> from finrisk.store.relational import open_database
    >>> repo = RuleSetRepository(open_database("sqlite://"))
    >>> _ = repo.save_draft("payments", "rules:\\n- name: big\\n  when: event.amount > 5000\\n", author="ana")
    >>> repo.publish("payments", author="ana", message="first cut").version
    1
    >>> v2 = repo.publish("payments", author="bo", message="raise limit",
    ...                   text="rules:\\n- name: big\\n  when: event.amount > 9000\\n")
    >>> d = repo.diff("payments", 1, 2)
    >>> [(c.rule, c.change, c.keys) for c in d.changes]
    [('big', 'changed', ('when',))]
    >>> repo.rollback("payments", 1, author="ana", message="too lax").version, repo.published("payments").text[-5:]
    (3, '5000\\n')
    """

    def __init__(self, db: Database, validate: Callable[[str], object] | None = None) -> None:
        self.db = db
        self.validate = validate

    # -- drafts ---------------------------------------------------------------------------------

    def save_draft(self, name: str, text: str, *, author: str) -> RuleSetDraft:
        """Save (or overwrite) the current draft of ``name``; it must pass ``validate``."""
        _check_name(name)
        _check_text(text)
        actor = _check_words("author", author)
        if self.validate is not None:
            self.validate(text)
        at = now_us()
        with self.db.write() as conn:
            key = ruleset_drafts.c.name == name
            old = conn.execute(select(ruleset_drafts.c.text).where(key)).first()
            values = {"text": text, "author": actor, "saved_at_us": at}
            if old is None:
                conn.execute(insert(ruleset_drafts).values(name=name, **values))
            else:
                conn.execute(update(ruleset_drafts).where(key).values(**values))
            record_audit(conn, actor=actor, object_type=_OBJECT, object_name=name, action="save_draft", at_us=at,
                         old=None if old is None else {"content_hash": content_hash(old[0])},
                         new={"content_hash": content_hash(text)})
        return RuleSetDraft(name, text, actor, us_to_datetime(at))

    def draft(self, name: str) -> RuleSetDraft | None:
        """The current draft of ``name``, or None."""
        with self.db.read() as conn:
            row = conn.execute(select(ruleset_drafts).where(ruleset_drafts.c.name == name)).mappings().first()
        return None if row is None else RuleSetDraft(row["name"], row["text"], row["author"],
                                                     us_to_datetime(row["saved_at_us"]))

    def discard_draft(self, name: str, *, author: str | None = None) -> None:
        """Delete the draft of ``name`` (RuleSetNotFoundError if there is none)."""
        actor = _check_words("author", author or "unknown")
        with self.db.write() as conn:
            old = conn.execute(select(ruleset_drafts.c.text).where(ruleset_drafts.c.name == name)).first()
            if old is None:
                raise RuleSetNotFoundError(f"name: rule set {_shown(name)} has no draft")
            conn.execute(delete(ruleset_drafts).where(ruleset_drafts.c.name == name))
            record_audit(conn, actor=actor, object_type=_OBJECT, object_name=name, action="discard_draft",
                         old={"content_hash": content_hash(old[0])})

    # -- publishing -----------------------------------------------------------------------------

    def publish(self, name: str, *, author: str, message: str, text: str | None = None) -> RuleSetVersion:
        """Publish ``text`` (or the draft, which is then consumed) as the next version.

        Refused with :class:`~finrisk.errors.RuleSetConflictError` when the text equals the live
        version's, or when another publisher changed the draft or took the version number first.
        """
        _check_name(name)
        from_draft = text is None
        if text is None:
            current = self.draft(name)
            if current is None:
                raise RuleSetNotFoundError(
                    f"name: rule set {name!r} has no draft to publish; save a draft first or pass the text"
                )
            text = current.text
        return self._publish(name, _check_text(text), author=author, message=message, action="publish",
                             from_draft=from_draft)

    def publish_from_file(
        self, path: Path | str, *, author: str, message: str, name: str | None = None
    ) -> RuleSetVersion:
        """Publish a rule-set file; the name is ``name``, else the file's ``name:`` key, else its stem."""
        source = Path(path)
        try:
            text = source.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise InputFileError(f"{source}: no such file") from None
        except UnicodeDecodeError as exc:
            raise InputFileError(f"{source}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
        if name is None:
            try:
                doc = yaml.safe_load(text)
            except yaml.YAMLError:
                doc = None  # validate() reports YAML errors with their position
            declared = doc.get("name") if isinstance(doc, dict) else None
            name = declared if isinstance(declared, str) else source.stem
        return self.publish(name, author=author, message=message, text=text)

    def rollback(self, name: str, to_version: int, *, author: str, message: str) -> RuleSetVersion:
        """Publish the text of ``to_version`` again as a new version (history is never rewritten)."""
        old = self.get(name, to_version)
        return self._publish(name, old.text, author=author, message=message, action="rollback",
                             extra={"from_version": old.version})

    def _publish(
        self, name: str, text: str, *, author: str, message: str, action: str, from_draft: bool = False,
        extra: dict[str, Any] | None = None,
    ) -> RuleSetVersion:
        actor = _check_words("author", author)
        note = _check_words("message", message, limit=None)
        if self.validate is not None:
            self.validate(text)
        digest = content_hash(text)
        at = now_us()
        try:
            with self.db.write() as conn:
                live = self._live_row(conn, name)
                if live is not None and live["content_hash"] == digest:
                    raise RuleSetConflictError(
                        f"text: identical to the live version {live['version']} of {name!r}; nothing to publish"
                    )
                if from_draft:
                    draft = conn.execute(select(ruleset_drafts.c.text).where(ruleset_drafts.c.name == name)).first()
                    if draft is None or draft[0] != text:
                        raise RuleSetConflictError(f"name: the draft of {name!r} changed while publishing; try again")
                    conn.execute(delete(ruleset_drafts).where(ruleset_drafts.c.name == name))
                number = 1 if live is None else int(live["version"]) + 1
                conn.execute(insert(ruleset_versions).values(
                    name=name, version=number, text=text, content_hash=digest, author=actor, message=note,
                    created_at_us=at,
                ))
                record_audit(conn, actor=actor, object_type=_OBJECT, object_name=name, action=action, at_us=at,
                             old=None if live is None else {"version": live["version"]},
                             new={"version": number, "content_hash": digest, "message": note, **(extra or {})})
                self._clear_promoted_shadow(conn, name, digest, actor, at)
        except IntegrityError:
            raise RuleSetConflictError(
                f"version: another publisher published {name!r} at the same moment; review its version and retry"
            ) from None
        return RuleSetVersion(name, number, text, digest, actor, note, us_to_datetime(at))

    def _clear_promoted_shadow(self, conn: Connection, name: str, digest: str, actor: str, at: int) -> None:
        """A shadow whose text has just gone live has nothing left to compare against: clear it."""
        shadow = conn.execute(
            select(ruleset_shadows.c.version, ruleset_versions.c.content_hash)
            .join(ruleset_versions, (ruleset_versions.c.name == ruleset_shadows.c.name)
                  & (ruleset_versions.c.version == ruleset_shadows.c.version))
            .where(ruleset_shadows.c.name == name)
        ).first()
        if shadow is not None and shadow[1] == digest:
            conn.execute(delete(ruleset_shadows).where(ruleset_shadows.c.name == name))
            record_audit(conn, actor=actor, object_type=_OBJECT, object_name=name, action="clear_shadow", at_us=at,
                         old={"version": shadow[0]}, new={"reason": "its text was published"})

    # -- reading --------------------------------------------------------------------------------

    @staticmethod
    def _live_row(conn: Connection, name: str) -> Any:
        query = select(ruleset_versions).where(ruleset_versions.c.name == name)
        return conn.execute(query.order_by(ruleset_versions.c.version.desc()).limit(1)).mappings().first()

    def published(self, name: str) -> RuleSetVersion:
        """The live version of ``name`` (its newest)."""
        live = self.find_published(name)
        if live is None:
            raise RuleSetNotFoundError(f"name: no published rule set named {_shown(name)}")
        return live

    def find_published(self, name: str) -> RuleSetVersion | None:
        """The live version of ``name``, or None before its first publish (no error)."""
        with self.db.read() as conn:
            row = self._live_row(conn, name)
        return None if row is None else _version_of(row)

    def live_at(self, name: str, at: datetime) -> RuleSetVersion | None:
        """The version that was live at ``at`` (for replaying history as it was decided), or None."""
        query = select(ruleset_versions).where(
            (ruleset_versions.c.name == name) & (ruleset_versions.c.created_at_us <= datetime_to_us(at))
        )
        with self.db.read() as conn:
            row = conn.execute(query.order_by(ruleset_versions.c.version.desc()).limit(1)).mappings().first()
        return None if row is None else _version_of(row)

    def get(self, name: str, version: int) -> RuleSetVersion:
        """One version of ``name``."""
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            raise RuleSetVersionError(f"version: expected an integer >= 1, got {describe_value(version)}")
        key = (ruleset_versions.c.name == name) & (ruleset_versions.c.version == version)
        latest_of_name = select(func.max(ruleset_versions.c.version)).where(ruleset_versions.c.name == name)
        with self.db.read() as conn:
            row = conn.execute(select(ruleset_versions).where(key)).mappings().first()
            latest = conn.scalar(latest_of_name) if row is None else version
        if row is None:
            known = f"versions 1 to {latest}" if latest else "no published versions"
            raise RuleSetNotFoundError(f"version: rule set {_shown(name)} has {known}, got {version}")
        return _version_of(row)

    def history(self, name: str) -> list[RuleSetVersion]:
        """Every version of ``name``, newest first."""
        query = select(ruleset_versions).where(ruleset_versions.c.name == name)
        with self.db.read() as conn:
            rows = conn.execute(query.order_by(ruleset_versions.c.version.desc())).mappings().all()
        if not rows:
            raise RuleSetNotFoundError(f"name: no published rule set named {_shown(name)}")
        return [_version_of(row) for row in rows]

    def names(self) -> list[str]:
        """Names of every rule set with a published version or a draft, sorted."""
        with self.db.read() as conn:
            published = set(conn.scalars(select(ruleset_versions.c.name).distinct()))
            drafted = set(conn.scalars(select(ruleset_drafts.c.name)))
        return sorted(published | drafted)

    def diff(self, name: str, a: int, b: int) -> RuleSetDiff:
        """What changed from version ``a`` to version ``b``: a unified diff and a per-rule summary."""
        old, new = self.get(name, a), self.get(name, b)
        return diff_texts(old.text, new.text, name=name, a=a, b=b)

    # -- shadow ---------------------------------------------------------------------------------

    def set_shadow(self, name: str, version: int | None, *, author: str) -> RuleSetVersion | None:
        """Evaluate ``version`` on live traffic without affecting the action (None: stop shadowing)."""
        actor = _check_words("author", author)
        target = None if version is None else self.get(name, version)
        at = now_us()
        with self.db.write() as conn:
            key = ruleset_shadows.c.name == name
            old = conn.scalar(select(ruleset_shadows.c.version).where(key))
            if target is None:
                if old is None:
                    return None
                conn.execute(delete(ruleset_shadows).where(key))
            elif old is None:
                conn.execute(insert(ruleset_shadows).values(name=name, version=target.version, set_by=actor,
                                                            set_at_us=at))
            else:
                conn.execute(update(ruleset_shadows).where(key).values(version=target.version, set_by=actor,
                                                                       set_at_us=at))
            record_audit(conn, actor=actor, object_type=_OBJECT, object_name=name, at_us=at,
                         action="clear_shadow" if target is None else "set_shadow",
                         old=None if old is None else {"version": old},
                         new=None if target is None else {"version": target.version})
        return target

    def shadow(self, name: str) -> RuleSetVersion | None:
        """The shadow version of ``name``, or None."""
        query = (
            select(ruleset_versions)
            .join(ruleset_shadows, (ruleset_versions.c.name == ruleset_shadows.c.name)
                  & (ruleset_versions.c.version == ruleset_shadows.c.version))
            .where(ruleset_shadows.c.name == name)
        )
        with self.db.read() as conn:
            row = conn.execute(query).mappings().first()
        return None if row is None else _version_of(row)

    def live_state(self, name: str) -> tuple[int | None, tuple[tuple[str, int], ...]]:
        """What a running service serves, in two key reads: the live version number of ``name``
        (None before its first publish) and every ``(rule set, shadow version)``.

        A service polls this (``finrisk.decisions.live_rules``) and reloads when it changes, so a
        publish, rollback or shadow change made by any process goes live without a restart.
        """
        newest = select(func.max(ruleset_versions.c.version)).where(ruleset_versions.c.name == name)
        with self.db.read() as conn:
            live = conn.scalar(newest)
            shadows = conn.execute(select(ruleset_shadows.c.name, ruleset_shadows.c.version)).all()
        return (None if live is None else int(live)), tuple(sorted((str(n), int(v)) for n, v in shadows))

    def audit(self, name: str | None = None, limit: int = 100) -> list[AuditRecord]:
        """The newest audit records of every rule set (or one), newest first."""
        with self.db.read() as conn:
            return read_audit(conn, object_type=_OBJECT, object_name=name, limit=limit)
