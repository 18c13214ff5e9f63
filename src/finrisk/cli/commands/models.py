"""``finrisk models train|list|deploy|rollback|report``: fraud models from the warehouse to serving."""

from __future__ import annotations

import hashlib
from datetime import date, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from finrisk.cli._common import WorkspaceOption, console, open_workspace, user_errors
from finrisk.errors import ModelError
from finrisk.models.evaluate import evaluate_protocol
from finrisk.models.registry import STAGES, ModelRegistry
from finrisk.models.report import html_report, print_summary
from finrisk.models.split import rolling_folds
from finrisk.models.train import KINDS, TrainParams, train_model
from finrisk.models.training_set import LABEL_SOURCES, TrainingSet, build_training_set

models_app = typer.Typer(help="Train, evaluate, register and deploy fraud models.", no_args_is_help=True)


def _day(option: str, text: str | None) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ModelError(f"{option}: expected a date such as 2026-03-01, got {text!r}") from None


def _choices(option: str, text: str, allowed: tuple[str, ...]) -> list[str]:
    items = [t.strip() for t in text.split(",") if t.strip()]
    for item in items:
        if item not in allowed:
            raise ModelError(f"{option}: expected one of {', '.join(allowed)}, got {item!r}")
    if not items:
        raise ModelError(f"{option}: name at least one of {', '.join(allowed)}")
    return items


def _data_fingerprint(ts: TrainingSet) -> str:
    """A hash of the rows and labels the model learnt from (same data, same fingerprint)."""
    h = hashlib.sha256()
    frame = ts.frame[["event_id", "fraud_known_at"]].astype(str)
    for row in frame.itertuples(index=False):
        h.update(f"{row[0]}|{row[1]}\n".encode())
    return h.hexdigest()[:32]


@models_app.command("train")
def train(
    name: Annotated[str, typer.Option("--name", "-n", help="Registry name of the model.")] = "fraud",
    events: Annotated[str, typer.Option("--events", "-e", help="Event type the model scores.")] = "transaction",
    start: Annotated[str | None, typer.Option("--from", help="First day of events (default: all).")] = None,
    end: Annotated[str | None, typer.Option("--to", help="Last day of events, included (default: all).")] = None,
    labels: Annotated[str, typer.Option(help=f"Label source: {', '.join(LABEL_SOURCES)}.")] = "ground_truth",
    label_delay: Annotated[int, typer.Option(help="Days until a label is known.", min=0)] = 7,
    kinds: Annotated[str, typer.Option(help=f"Model kinds to evaluate ({', '.join(KINDS)}); the first "
                                            "is registered (blend: LightGBM and logistic log-odds "
                                            "weighted, docs/models.md).")] = "blend,lightgbm,logistic",
    trees: Annotated[int, typer.Option(min=1, help="LightGBM trees.")] = 300,
    leaves: Annotated[int, typer.Option(min=2, help="LightGBM leaves per tree.")] = 31,
    train_days: Annotated[int, typer.Option(min=1, help="Days of training events per fold.")] = 7,
    delay_days: Annotated[int, typer.Option(min=0, help="Days between training and test (label delay).")] = 7,
    test_days: Annotated[int, typer.Option(min=1, help="Days of test events per fold.")] = 7,
    folds: Annotated[int, typer.Option(min=0, help="Rolling folds (0: no evaluation).")] = 4,
    step_days: Annotated[int, typer.Option(min=1, help="Days between fold starts.")] = 7,
    fields: Annotated[str, typer.Option(help="Numeric event fields used as inputs (a,b,...).")] = "amount",
    balance: Annotated[bool, typer.Option(help="Reweight the rare class (negative/positive ratio).")] = False,
    holdout: Annotated[float, typer.Option(min=0.0, max=0.9, help="Share of the latest training rows held out "
                                           "to choose the number of trees (early stopping, at most --trees); "
                                           "0: exactly --trees.")] = 0.0,
    workspace: WorkspaceOption = Path("."),
) -> None:
    """Build the training set, evaluate on rolling held-out folds, fit on all known labels, register."""
    with user_errors():
        ws = open_workspace(workspace)
        chosen = _choices("--kinds", kinds, KINDS)
        source = _choices("--labels", labels, LABEL_SOURCES)[0]
        lo, hi = _day("--from", start), _day("--to", end)
        ts = build_training_set(ws, event_type=events, start=lo, end=hi, label_delay=timedelta(days=label_delay),
                                label_source=source,  # type: ignore[arg-type]
                                fields=[f.strip() for f in fields.split(",") if f.strip()])
        first = ts.frame["event_time"].min().to_pydatetime()
        console.print(f"{len(ts.frame):,} {events} events, {len(ts.inputs)} inputs, "
                      f"{int(ts.labels_at(None).sum()):,} frauds ({source}, known {label_delay} d later)")
        params = [TrainParams(kind=k, trees=trees, leaves=leaves, balance=balance, holdout=holdout)  # type: ignore[arg-type]
                  for k in chosen]
        protocol = (f"{folds} rolling fold(s): {train_days} d train, {delay_days} d delay, {test_days} d test, "
                    f"step {step_days} d; training labels as known at the test start; each test day, entities "
                    "with a fraud since the training start known by that day removed (the handbook's rule).")
        ev = None
        if folds:
            day0 = lo or first.date()
            ev = evaluate_protocol(ts, rolling_folds(day0, train_days=train_days, delay_days=delay_days,
                                                     test_days=test_days, folds=folds, step_days=step_days), params)
            print_summary(ev, console)
        as_of = ts.frame["event_time"].max().to_pydatetime()
        y = ts.labels_at(as_of)
        known = y.notna()
        model = train_model(ts.x(ts.frame[known]), y[known].astype(int).to_numpy(), inputs=ts.inputs,
                            params=params[0])
        meta: dict[str, Any] = {
            "event_type": events, "label_source": source, "label_delay_days": label_delay,
            "window": f"{first:%Y-%m-%d}..{as_of:%Y-%m-%d}", "train_rows": int(known.sum()),
            "train_frauds": int(y[known].sum()), "feature_fingerprint": ts.feature_fingerprint,
            "data_fingerprint": _data_fingerprint(ts), "protocol": protocol,
            "metrics": ev.mean(params[0].kind) if ev else {},
            "folds": [r.as_dict() for r in ev.results] if ev else [],
        }
        report = html_report(ev, title=f"Model {name}", protocol=protocol, meta={
            k: meta[k] for k in ("event_type", "label_source", "label_delay_days", "window", "train_rows",
                                 "train_frauds", "data_fingerprint")}) if ev else None
        version = ModelRegistry(ws).register(name, model, meta, report_html=report)
    console.print(f"registered {name} v{version} ({params[0].kind}, {len(ts.inputs)} inputs, trained on "
                  f"{meta['train_rows']:,} rows with labels known at {as_of:%Y-%m-%d %H:%M})")
    if report:
        console.print(f"report: {ws.root / 'models' / name / f'v{version}' / 'report.html'}")
    console.print(f"deploy with: finrisk models deploy {name} {version} --stage champion -w {workspace}")


@models_app.command("list")
def list_models(workspace: WorkspaceOption = Path(".")) -> None:
    """Every registered version with its stage and held-out metrics."""
    with user_errors():
        rows = ModelRegistry(open_workspace(workspace)).list()
    table = Table(title=f"{len(rows)} model version(s)")
    for col in ("name", "version", "kind", "stage", "window", "AUC", "AP", "CP@100", "created"):
        table.add_column(col)
    for r in rows:
        m = r.get("metrics") or {}
        table.add_row(r["name"], r["version"], r["kind"], r["stage"], str(r.get("window") or ""),
                      *(f"{m[k]:.3f}" if k in m else "-" for k in ("auc", "average_precision",
                                                                    "card_precision_at_100")), r["created_at"])
    console.print(table)


@models_app.command("deploy")
def deploy(
    name: Annotated[str, typer.Argument(help="Model name.")],
    version: Annotated[str, typer.Argument(help="Version to deploy.")],
    stage: Annotated[str, typer.Option(help=f"One of {', '.join(STAGES)}.")] = "champion",
    traffic: Annotated[float, typer.Option(help="Share of events a challenger decides (0-1).")] = 0.1,
    workspace: WorkspaceOption = Path("."),
) -> None:
    """Make a version champion, challenger (with a traffic share) or shadow; the service picks it up."""
    with user_errors():
        chosen = _choices("--stage", stage, STAGES)[0]
        dep = ModelRegistry(open_workspace(workspace)).deploy(name, version, stage=chosen,  # type: ignore[arg-type]
                                                              traffic=traffic)
    _print_deployment(name, dep.as_dict())


@models_app.command("rollback")
def rollback(name: Annotated[str, typer.Argument(help="Model name.")], workspace: WorkspaceOption = Path(".")) -> None:
    """Restore the deployment before the last deploy or rollback."""
    with user_errors():
        dep = ModelRegistry(open_workspace(workspace)).rollback(name)
    _print_deployment(name, dep.as_dict())


def _print_deployment(name: str, dep: dict[str, Any]) -> None:
    challengers = ", ".join(f"v{v} ({s:.0%})" for v, s in dep["challengers"].items()) or "none"
    shadows = ", ".join(f"v{v}" for v in dep["shadows"]) or "none"
    champion = f"v{dep['champion']}" if dep["champion"] else "none"
    console.print(f"{name}: champion {champion}; challengers {challengers}; shadows {shadows}")


@models_app.command("report")
def report(
    name: Annotated[str, typer.Argument(help="Model name.")],
    version: Annotated[str | None, typer.Argument(help="Version (default: the latest).")] = None,
    workspace: WorkspaceOption = Path("."),
) -> None:
    """Print a version's held-out results and where its HTML report is."""
    with user_errors():
        ws = open_workspace(workspace)
        registry = ModelRegistry(ws)
        versions = [r["version"] for r in registry.list() if r["name"] == name]
        if not versions:
            registry.deployment(name)  # raises ModelNotFoundError naming the registered models
        meta = registry.meta(name, version or versions[-1])
    table = Table(title=f"{name} v{meta['version']} ({meta['kind']}): {meta.get('protocol', '')}",
                  title_justify="left")
    cols = ("fold", "kind", "auc", "average_precision", "card_precision_at_100", "recall_at_1pct_fpr",
            "fraud_amount_caught_1pct", "events", "frauds")
    for col in cols:
        table.add_column(col)
    for row in meta.get("folds", []):
        table.add_row(*(str(row.get(c, "")) for c in cols))
    console.print(table)
    for key in ("event_type", "window", "label_source", "label_delay_days", "train_rows", "train_frauds",
                "feature_fingerprint", "data_fingerprint"):
        console.print(f"  {key:20} {meta.get(key)}")
    html_file = ws.root / "models" / name / f"v{meta['version']}" / "report.html"
    if html_file.exists():
        console.print(f"  report               {html_file}")


def register(app: typer.Typer) -> None:
    app.add_typer(models_app, name="models")
