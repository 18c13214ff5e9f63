"""``finrisk rules validate FILE`` and ``finrisk rules test FILE --event JSON``: check and try a rule set."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from finrisk.cli._common import console, open_workspace, user_errors
from finrisk.config import CONFIG_FILE
from finrisk.errors import RuleSetError
from finrisk.events import EventTypeRegistry, EventValidator
from finrisk.rules import CompiledRuleSet, RuleNames, load_ruleset

rules_app = typer.Typer(help="Rule sets: check, try, publish, diff, roll back and shadow them.", no_args_is_help=True)

FileArgument = Annotated[Path, typer.Argument(help="The rule-set YAML file.", show_default=False)]
WorkspaceLookup = Annotated[
    Path | None,
    typer.Option("--workspace", "-w", show_default=False,
                 help="Workspace whose event types and features the names are checked against "
                      "(default: the current folder if it holds finrisk.toml, else the built-in event types)."),
]


def _names(workspace: Path | None) -> tuple[RuleNames, EventTypeRegistry, str]:
    """Names from the workspace, or the built-in event types with features left open."""
    if workspace is None and not Path(CONFIG_FILE).is_file():
        registry = EventTypeRegistry.builtin()
        return RuleNames.from_registry(registry), registry, "built-in event types; feature names not checked"
    ws = open_workspace(workspace or Path("."))
    features = [f.name for f in ws.features]
    return (RuleNames.from_registry(ws.event_types, features=features), ws.event_types,
            f"workspace {ws.root}: {len(ws.event_types)} event types, {len(features)} features")


def _compile(file: Path, workspace: Path | None) -> tuple[CompiledRuleSet, EventTypeRegistry, str]:
    ruleset = load_ruleset(file)
    names, registry, checked = _names(workspace)
    return ruleset.compile(names), registry, checked


@rules_app.command("validate")
def validate(file: FileArgument, workspace: WorkspaceLookup = None) -> None:
    """Check a rule-set file: keys, actions, levels, conditions and the names they use."""
    with user_errors():
        compiled, _, checked = _compile(file, workspace)
    rs = compiled.ruleset
    enabled = sum(r.enabled for r in rs.rules)
    table = Table(title=f"rule set {escape(rs.name)}: {len(rs.rules)} rule(s), {enabled} enabled, "
                        f"policy {rs.policy.value}")
    for column in ("rule", "events", "action", "score", "enabled"):
        table.add_column(column, overflow="fold")
    for r in rs.rules:
        table.add_row(escape(r.name), escape(", ".join(r.events or ("all",))),
                      (r.action.value + (f" ({r.method.value})" if r.method else "")) if r.action else "",
                      f"{r.score:g}", "yes" if r.enabled else "no")
    console.print(table)
    console.print(f"ok: names checked against {escape(checked)}", highlight=False)
    console.print(f"fingerprint {rs.fingerprint}", highlight=False)


def _json_object(option: str, text: str | None) -> dict[str, Any]:
    """A JSON object given inline or as @file."""
    if text is None:
        return {}
    raw = text
    if text.startswith("@"):
        try:
            raw = Path(text[1:]).read_text(encoding="utf-8")
        except OSError as exc:
            raise RuleSetError(f"{option}: cannot read {text[1:]!r} ({exc.strerror})") from None
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise RuleSetError(f"{option}: not valid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from None
    if not isinstance(value, dict):
        raise RuleSetError(f"{option}: expected a JSON object such as {{\"amount\": 1}}, got {type(value).__name__}")
    return value


@rules_app.command("test")
def test(
    file: FileArgument,
    event: Annotated[str, typer.Option("--event", "-e", help="The event as a JSON object (or @file.json).")],
    features: Annotated[str | None, typer.Option("--features", "-f", help="Feature values, JSON (or @file).")] = None,
    models: Annotated[str | None, typer.Option("--models", help="Model scores, JSON (or @file).")] = None,
    profile: Annotated[str | None, typer.Option("--profile", help="Customer profile, JSON (or @file).")] = None,
    workspace: WorkspaceLookup = None,
) -> None:
    """Evaluate the rule set on one event and print the result as JSON (with each condition's value).

    The event is validated against its type when the type is known; event_id and event_time are
    filled in when missing. List lookups are unknown here (no list store), so list rules do not hit.
    """
    with user_errors():
        compiled, registry, _ = _compile(file, workspace)
        body = _json_object("--event", event)
        body.setdefault("event_id", "rules-test")
        body.setdefault("event_time", datetime.now(UTC).isoformat())
        if body.get("event_type") in registry:
            body = dict(EventValidator(registry).validate(body))
        values = {"features": _json_object("--features", features), "models": _json_object("--models", models),
                  "profile": _json_object("--profile", profile)}
        result = compiled.evaluate(body, values["features"], values["models"], values["profile"])
    conditions: dict[str, str] = {}
    for r in compiled.ruleset.rules:
        if not r.enabled:
            conditions[r.name] = "disabled"
        elif r.events is not None and body.get("event_type") not in r.events:
            conditions[r.name] = "not for this event type"
        else:
            value = compiled.conditions[r.name].evaluate(body, values["features"], values["models"],
                                                         values["profile"])
            conditions[r.name] = {True: "true", False: "false", None: "unknown"}[value]
    out = {**result.to_dict(), "conditions": conditions}
    typer.echo(json.dumps(out, indent=2, ensure_ascii=False))


def register(app: typer.Typer) -> None:
    from finrisk.cli.commands import rule_versions

    rule_versions.register(rules_app)  # publish, history, diff, rollback, shadow, export, audit
    app.add_typer(rules_app, name="rules")
