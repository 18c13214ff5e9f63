"""``finrisk demo``: a workspace filled with a simulated world, loaded and summarised.

This is what ``make demo`` runs. It is deliberately the same path a user takes by hand
(``init`` -> ``simulate`` -> ``load`` -> ``flush`` -> ``sql``) so the demo proves the product,
not a shortcut.
"""

from __future__ import annotations

import os
import shutil
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from finrisk.cli._common import console, user_errors
from finrisk.config import CONFIG_FILE, Workspace, init_workspace
from finrisk.decisions.replay import replay
from finrisk.decisions.replay_report import print_report, render_html
from finrisk.errors import WorkspaceError
from finrisk.features.offline import warehouse_features
from finrisk.rules import load_ruleset
from finrisk.simulate import WorldConfig, simulate_world
from finrisk.store import Warehouse, load_path

DEMO_MARKER = ".finrisk-demo"


def _progress() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )


def _fresh_workspace(directory: Path) -> Workspace:
    """Make the demo folder anew; refuse to wipe a folder the demo did not create."""
    if directory.exists() and any(directory.iterdir()):
        if not (directory / DEMO_MARKER).exists():
            raise WorkspaceError(
                f"{directory} exists and was not made by 'finrisk demo'; choose another --dir"
            )
        shutil.rmtree(directory)
    ws = init_workspace(directory, name="demo")
    (directory / DEMO_MARKER).write_text("made by finrisk demo; safe to delete\n", encoding="utf-8")
    return ws


def demo(
    directory: Annotated[
        Path, typer.Option("--dir", "--workspace", "-w", help="Folder for the demo workspace (made anew).")
    ] = Path("demo-workspace"),
    customers: Annotated[int, typer.Option(min=1, help="Customers in the simulated world.")] = 3000,
    days: Annotated[int, typer.Option(min=1, help="Days of history.")] = 30,
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same world).")] = 7,
    serve_after: Annotated[bool, typer.Option("--serve/--no-serve",
                                              help="End by serving the decision API on the workspace.")] = True,
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port to serve on (0 picks a free one).")] = 8000,
) -> None:
    """Simulate a world, load it, replay the demo rules over it, then serve the decision API."""
    started = time.perf_counter()
    with user_errors():
        ws = _fresh_workspace(directory)
        sim_dir = ws.root / "simulated"
        with _progress() as progress:
            task = progress.add_task("simulating days", total=days)
            sim = simulate_world(
                WorldConfig(customers=customers, days=days, seed=seed),
                out_dir=sim_dir,
                fmt="parquet",
                progress=lambda done, total: progress.update(task, completed=done, total=total),
            )
        with _progress() as progress:
            task = progress.add_task("loading events", total=None)
            loaded = load_path(
                ws,
                sim_dir,
                progress=lambda done, total: progress.update(task, completed=done, total=total),
            )
        with Warehouse.open(ws) as warehouse:
            flushed = warehouse.flush(all=True)
            _summarise(ws, warehouse)
        features_out = ws.root / "features" / "transaction_features.parquet"
        with _progress() as progress:
            task = progress.add_task("building features", total=None)
            built = warehouse_features(
                ws,
                event_types=["transaction"],
                out=features_out,
                progress=lambda done, total, _label: progress.update(task, completed=done, total=total),
            )
        with Warehouse.open(ws) as warehouse:
            _feature_contrast(warehouse, features_out)
            last = warehouse.sql("SELECT max(event_time) AS t FROM events_transaction").column(0)[0].as_py()
        replayed = _replay_last_week(ws, last)
        _train_scorecard(ws)
        _train_fraud_model(ws, days)
    console.print(
        f"\nSimulated {sum(sim.events_by_type.values()):,} events, loaded {loaded.loaded:,} "
        f"({loaded.rejected:,} rejected), wrote {len(flushed.files)} warehouse partition file(s), "
        f"built {built.features} features for {built.events:,} transactions, "
        f"replayed {replayed:,} events through the demo rules in {time.perf_counter() - started:.1f} s."
    )
    _next_steps(ws, directory)
    if serve_after:
        _serve(ws, port)


def _serve(ws: Workspace, port: int) -> None:
    """Serve the workspace; without FINRISK_API_KEY, make a demo admin key and show it once."""
    from finrisk.api.store import open_key_store
    from finrisk.cli.commands.serve import ADMIN_KEY_ENV, serve

    if not os.environ.get(ADMIN_KEY_ENV):
        _, secret = open_key_store(ws).create(name="demo", role="admin")
        os.environ[ADMIN_KEY_ENV] = secret
        console.print("\n[bold]Demo admin API key[/] (shown once; stored hashed):")
        console.print(f"  export {ADMIN_KEY_ENV}={secret}", markup=False, soft_wrap=True)
    console.print("\n[bold]Serving the decision API[/] (Ctrl-C stops it; 'finrisk demo --no-serve' skips this)")
    console.print(f"  curl -s -H \"X-API-Key: ${ADMIN_KEY_ENV}\" -H 'Content-Type: application/json' "
                  f"localhost:{port}/v1/decisions -d '{{\"event_id\": "
                  f"\"e1\", \"event_type\": \"login\", \"event_time\": \"2026-01-31T09:00:00Z\", "
                  f"\"customer_id\": \"C00000001\", \"success\": true, \"device_id\": \"D1\"}}'", markup=False,
                  soft_wrap=True)
    console.print(f"  open http://127.0.0.1:{port}/docs for the OpenAPI reference", markup=False)
    serve(workspace=ws.root, host=None, port=port, access_log=True)


def _train_fraud_model(ws: Workspace, days: int) -> None:
    """Train, evaluate and deploy the demo fraud model; the service scores transactions with it."""
    from finrisk.cli.commands.models import train
    from finrisk.errors import ModelError
    from finrisk.models.registry import ModelRegistry

    try:  # the handbook protocol (7 d train, 7 d delay, 7 d test) needs four weeks for two folds
        train(name="fraud", events="transaction", folds=2 if days >= 28 else 0, trees=200, workspace=ws.root,
              start=None, end=None, labels="ground_truth", label_delay=7, kinds="lightgbm,logistic", leaves=31,
              train_days=7, delay_days=7, test_days=7, step_days=7, fields="amount", balance=False)
        registry = ModelRegistry(ws)
        version = max((row["version"] for row in registry.list() if row["name"] == "fraud"), key=int)
        registry.deploy("fraud", version)
    except (ModelError, typer.Exit) as exc:  # a tiny world may hold too few frauds to learn from
        console.print(f"Fraud model not trained: {exc}", markup=False)
        return
    console.print(f"Fraud model fraud v{version} deployed as champion: transactions now get models.fraud "
                  "(the demo rule fraud_model_high_score reads it).", markup=False)


def _train_scorecard(ws: Workspace) -> None:
    """Fit and register the demo credit scorecards; the service then scores loan applications with them."""
    from finrisk.errors import ScorecardError
    from finrisk.scoring.features import point_in_time_features
    from finrisk.scoring.scenarios import load_scenarios, train_scenario, variable_sources

    declared = load_scenarios(ws)
    # the loan applications' behavioural features, built once for every scenario that names one
    wanted = sorted({f for d in declared.values() if d.event_type == "loan_application"
                     for f in variable_sources(ws, d)[1]})
    shared = point_in_time_features(ws, "loan_application", wanted) if wanted else None
    for name, decl in declared.items():
        try:
            trained = train_scenario(ws, name, feature_values=shared if decl.event_type == "loan_application" else None)
        except ScorecardError as exc:  # a tiny world may have too few defaults to fit a card
            console.print(f"Credit scorecard {name} not trained: {exc}", markup=False)
            continue
        m = trained.report.metrics
        console.print(f"Credit scorecard {name} v{trained.version}: fitted on {trained.development_rows:,} "
                      f"applications, out-of-time AUC {m.get('auc', float('nan')):.3f} on "
                      f"{trained.validation_rows:,}"
                      + (f"; loan applications now get models.{name} (350-950)." if trained.champion else
                         f"; deploy with 'finrisk scoring deploy {name} {trained.version}'."), markup=False)


def _replay_last_week(ws: Workspace, last: datetime | None) -> int:
    """The demo rules over the last seven days (earlier days warm the features up), with a report."""
    if last is None:
        return 0
    end = last + timedelta(seconds=1)
    start = end - timedelta(days=7)
    rules = load_ruleset(ws.root / ws.settings.rules.file)
    with _progress() as progress:
        task = progress.add_task("replaying the last 7 days through the demo rules", total=None)
        report = replay(ws, rules, start=start, end=end,
                        progress=lambda n: progress.update(task, completed=n))
    print_report(report, console)
    out = ws.root / "reports" / "rules_replay.html"
    out.parent.mkdir(exist_ok=True)
    out.write_text(render_html(report), encoding="utf-8")
    console.print(f"Replay report: {out}", markup=False)
    return report.events + report.warmup_events


def _summarise(ws: Workspace, warehouse: Warehouse) -> None:
    by_type = Table(title="Events by type", title_justify="left")
    by_type.add_column("event type")
    by_type.add_column("events", justify="right")
    by_type.add_column("fraud-labelled", justify="right")
    patterns: dict[str, int] = {}
    for et in ws.event_types:
        n = warehouse.sql(f'SELECT count(*) AS n FROM "{et.name}"').column("n")[0].as_py()
        labels = warehouse.sql(
            f'SELECT label_pattern AS p, count(*) AS n FROM "labels_{et.name}" '
            "WHERE label_is_fraud GROUP BY 1"
        ).to_pylist()
        for row in labels:
            patterns[str(row["p"])] = patterns.get(str(row["p"]), 0) + int(row["n"])
        by_type.add_row(et.name, f"{n:,}", f"{sum(int(r['n']) for r in labels):,}")
    console.print(by_type)

    fraud = Table(title="Injected fraud by pattern (labelled events)", title_justify="left")
    fraud.add_column("pattern")
    fraud.add_column("events", justify="right")
    for name, n in sorted(patterns.items(), key=lambda kv: -kv[1]):
        fraud.add_row(name, f"{n:,}")
    console.print(fraud)

    loans = warehouse.sql(
        "SELECT count(*) AS n, avg(CAST(label_default AS DOUBLE)) AS rate FROM labels_loan_application"
    ).to_pylist()[0]
    if loans["n"]:
        console.print(f"Loans: {loans['n']:,} applications, default rate {loans['rate']:.1%}")


#: Features whose fraud-vs-legit contrast the demo prints (all in the demo feature set).
_CONTRAST = [
    "card_small_payments_10m",
    "card_payment_cities_1h",
    "card_speed_from_last_payment_kmh",
    "payee_senders_24h",
    "amount_zscore_30d",
    "customer_login_devices_24h",
]


def _feature_contrast(warehouse: Warehouse, table: Path) -> None:
    """Show that the declared features separate injected fraud from normal traffic."""
    source = "read_parquet('" + str(table).replace("'", "''") + "')"
    with warehouse.connect() as con:
        columns = {r[0] for r in con.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()}
        rows = {
            name: con.execute(
                f'SELECT avg("{name}") FILTER (WHERE l.label_is_fraud), '
                f'avg("{name}") FILTER (WHERE NOT l.label_is_fraud) '
                f"FROM {source} f JOIN labels_transaction l USING (event_id)"
            ).fetchone()
            for name in _CONTRAST
            if name in columns
        }
    if not rows:
        return
    out = Table(title="Point-in-time features: mean on fraud vs normal transactions", title_justify="left")
    out.add_column("feature")
    out.add_column("fraud", justify="right")
    out.add_column("normal", justify="right")
    for name, row in rows.items():
        fraud, normal = row if row is not None else (None, None)
        out.add_row(name, _fmt(fraud), _fmt(normal))
    console.print(out)


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:,.2f}"


def _next_steps(ws: Workspace, directory: Path) -> None:
    fin = ".venv/bin/finrisk" if Path(".venv/bin/finrisk").exists() else "finrisk"
    console.print(f"\n[bold]Where the data is[/]  (workspace {ws.root})")
    console.print(f"  settings          {ws.root / CONFIG_FILE}")
    console.print(f"  event log         {ws.log_dir}")
    console.print(f"  warehouse         {ws.warehouse_dir}  (Parquet, one folder per event type and day)")
    console.print(f"  simulated files   {ws.root / 'simulated'}")
    console.print(f"  features          {ws.root / 'features'}  (declared in {ws.root / 'features.yaml'})")
    rules = ws.settings.rules
    console.print(f"  rules             {ws.root / rules.file}  (lists the rules read: {ws.root / rules.lists_file})")
    console.print(f"  rules report      {ws.root / 'reports' / 'rules_replay.html'}")
    console.print("\n[bold]What to try next[/]")
    console.print(
        f'  {fin} sql -w {directory} "SELECT txn_type, count(*), round(avg(amount), 2) FROM transaction GROUP BY 1"'
    )
    console.print(
        f'  {fin} sql -w {directory} "SELECT label_pattern, count(*) FROM labels_transaction '
        'WHERE label_is_fraud GROUP BY 1"'
    )
    console.print(f"  {fin} features list -w {directory}")
    console.print(f"  {fin} features build -w {directory} --events loan_application --out loan_features.parquet")
    console.print(f"  {fin} replay -w {directory} --rules {directory}/rules.yaml --from 2026-01-20 --to 2026-01-30 "
                  "--html replay.html")
    console.print(f"  {fin} simulate --customers 20000 --days 30 --seed 7 --out /tmp/world")
    console.print(f"  {fin} --help")


def register(app: typer.Typer) -> None:
    app.command()(demo)
