"""Scenario scorecards declared in a workspace (``scorecards.yaml``) and trained from its warehouse.

A declaration names the event type whose rows are applications (default ``loan_application``), the
label column that marks a bad outcome (default ``label_default``, 1 = defaulted), optionally the
products it covers, and its variables, each with a dimension and optionally a trend; ``params`` passes
any other :class:`~finrisk.scoring.Scorecard` parameter::

    scorecards:
      consumer_loan:
        description: Personal consumer loans
        products: [consumer, cash]
        dimension_weights: {capacity: 1.5}
        variables:
          phone_tenure_months: {dimension: identity}
          past_overdue_count: {dimension: credit_history, trend: ascending, weight: 2}
          income_band: {dimension: capacity}
        params: {max_features: 8, pdo: 40}

**Weights** are the scenario's business emphasis. A variable's ``weight`` and its dimension's entry in
``dimension_weights`` (each in (0, 10], default 1, product at most 10) multiply: the product multiplies the variable's
fitted coefficient before scaling, so a weight of 2 doubles every one of its points (and its pull on
P(bad)). Weights act after selection, so they never bring a variable into the card, and a weighted
card is no longer the maximum-likelihood fit: the out-of-time report shows what they cost.

Training reads the application events joined to their labels, in event-time order, fits on the first
70% (development) and reports on the last 30% (out of time), with PSI/CSI between the two; the card is
registered as the next version of ``<name>`` in the model registry with its report, training window,
metrics, data fingerprint and variables (see :mod:`finrisk.scoring.registered`). An application event
carries the signals known when it was made, so its columns are point-in-time by construction.

A variable may also name a behavioural feature declared in the workspace's features (e.g.
``device_customers_7d: {dimension: social}``): training joins each application's offline feature
value, computed from the events strictly before it (:mod:`finrisk.scoring.features`), and the served
card reads the same name from the online feature values at decision time. A name that is neither a
field of the event type nor a feature is refused with the file, line, scorecard and close names.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from finrisk._yamlfile import load_yaml
from finrisk.config import Workspace
from finrisk.errors import ScorecardError, WorkspaceError
from finrisk.scoring.card import ScorecardModel
from finrisk.scoring.features import close_names, point_in_time_features
from finrisk.scoring.report import ScorecardReport, build_report
from finrisk.scoring.scorecard import Scorecard

__all__ = [
    "SCORECARDS_FILE", "ScenarioDeclaration", "TrainedScenario", "labelled_applications", "load_scenarios",
    "scenario_query", "train_scenario", "variable_sources",
]

SCORECARDS_FILE = "scorecards.yaml"
_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"
#: A scorecard's name is its model-registry name (lowercase, like fraud models'), so it fits there.
_CARD_NAME = r"^[a-z][a-z0-9_]{0,63}$"


class VariableDeclaration(BaseModel):
    model_config = ConfigDict(extra="forbid")

    dimension: str = "other"
    trend: Annotated[str, Field(pattern=r"^(auto|auto_unimodal|ascending|descending|peak|valley)$")] | None = None
    categorical: bool = False
    weight: Annotated[float, Field(gt=0, le=10, strict=True)] = 1.0


class ScenarioDeclaration(BaseModel):
    """One scenario scorecard (see the module docstring)."""

    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, Field(pattern=_CARD_NAME)]
    description: str = ""
    event_type: Annotated[str, Field(pattern=_NAME)] = "loan_application"
    target: Annotated[str, Field(pattern=_NAME)] = "label_default"
    products: list[str] | None = None
    variables: Annotated[dict[Annotated[str, Field(pattern=_NAME)], VariableDeclaration], Field(min_length=1)]
    dimension_weights: dict[str, Annotated[float, Field(gt=0, le=10, strict=True)]] = Field(default_factory=dict)
    params: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _weighted_dimensions_exist(self) -> ScenarioDeclaration:
        used = {v.dimension for v in self.variables.values()}
        unknown = sorted(set(self.dimension_weights) - used)
        if unknown:
            raise ValueError(f"dimension_weights: no variable has dimension {', '.join(map(repr, unknown))} "
                             f"(dimensions used: {', '.join(sorted(used))})")
        for name, var in self.variables.items():
            if var.weight * self.dimension_weights.get(var.dimension, 1.0) > 10:
                raise ValueError(f"variables.{name}: weight {var.weight:g} times the weight of dimension "
                                 f"{var.dimension!r} ({self.dimension_weights[var.dimension]:g}) exceeds 10")
        return self

    def weights(self) -> dict[str, float]:
        """Each variable's weight times its dimension's (only those not 1)."""
        out = {n: v.weight * self.dimension_weights.get(v.dimension, 1.0) for n, v in self.variables.items()}
        return {n: w for n, w in out.items() if w != 1.0}

    def estimator(self) -> Scorecard:
        """The Scorecard this declaration asks for."""
        known = Scorecard().get_params()
        fixed = {"dimensions", "monotonic_trend", "categorical_features", "weights"}
        bad = sorted(k for k in self.params if k not in known or k in fixed)
        if bad:
            raise ScorecardError(f"params of scorecard {self.name!r}: unknown or reserved key(s) {', '.join(bad)}; "
                                 f"allowed: {', '.join(sorted(set(known) - fixed))}")
        return Scorecard(**{**self.params, "dimensions": {n: v.dimension for n, v in self.variables.items()},
                            "monotonic_trend": {n: v.trend for n, v in self.variables.items() if v.trend},
                            "categorical_features": [n for n, v in self.variables.items() if v.categorical],
                            "weights": self.weights() or None})


def load_scenarios(workspace: Workspace) -> dict[str, ScenarioDeclaration]:
    """Every scorecard declared in the workspace's ``scorecards.yaml`` (none if the file is absent)."""
    path = workspace.root / SCORECARDS_FILE
    if not path.exists():
        return {}
    doc = load_yaml(path, display_name=SCORECARDS_FILE)
    data = doc.data
    if not isinstance(data, dict) or not isinstance(data.get("scorecards"), dict):
        raise doc.error((), "expected a mapping with a 'scorecards' key mapping names to declarations")
    out: dict[str, ScenarioDeclaration] = {}
    for name, body in data["scorecards"].items():
        if not isinstance(body, dict):
            raise doc.error(("scorecards", name), f"scorecard {name!r}: expected a mapping")
        try:
            out[str(name)] = ScenarioDeclaration(name=str(name), **body)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ("scorecards", name, *(str(p) for p in first["loc"]))
            field = ".".join(str(p) for p in first["loc"])
            message = first["msg"].removeprefix("Value error, ")
            raise doc.error(where, f"scorecard {name!r}: {field + ': ' if field else ''}{message}") from None
        except TypeError as exc:
            raise doc.error(("scorecards", name), f"scorecard {name!r}: {exc}") from None
    return out


@dataclass(frozen=True)
class TrainedScenario:
    """A trained scenario scorecard, where it was written and its out-of-time report."""

    model: ScorecardModel
    estimator: Scorecard
    card_path: Path
    report_path: Path
    report: ScorecardReport
    development_rows: int
    validation_rows: int
    version: str = ""
    champion: bool = False


def scenario_query(decl: ScenarioDeclaration, columns: Sequence[str] | None = None) -> str:
    """SQL of the labelled application rows of a scenario, oldest first, with the label as ``__target``
    (and ``__event_id``, ``__event_time`` for the training window and the data fingerprint).

    ``columns``: the event's own columns to read (default: every variable)."""
    cols = "".join(f'e."{v}", ' for v in (decl.variables if columns is None else columns))
    where = f'l."{decl.target}" IS NOT NULL'
    if decl.products:
        listed = ", ".join("'" + p.replace("'", "''") + "'" for p in decl.products)
        where += f" AND e.product IN ({listed})"
    return (f'SELECT {cols}CAST(l."{decl.target}" AS INTEGER) AS "__target", '
            'CAST(e.event_id AS VARCHAR) AS "__event_id", e.event_time AS "__event_time" '
            f'FROM "events_{decl.event_type}" e JOIN "labels_{decl.event_type}" l USING (event_id) '
            f"WHERE {where} ORDER BY e.event_time, e.event_id")


def variable_sources(workspace: Workspace, decl: ScenarioDeclaration) -> tuple[list[str], list[str]]:
    """The declaration's variables that are fields of its event type, and those that are declared
    features (a name that is both is the event's field, as a served card reads it: event over features).

    A name that is neither is refused with ``scorecards.yaml``'s line, the scorecard, the variable and
    the close names among fields and features.
    """
    if decl.event_type not in workspace.event_types:
        raise _declaration_error(workspace, decl, ("event_type",),
                                 f"event_type: unknown event type {decl.event_type!r}; declared: "
                                 f"{', '.join(workspace.event_types.names)}")
    fields = [f.name for f in workspace.event_types.get(decl.event_type).fields]
    features = workspace.features.names
    own = [v for v in decl.variables if v in fields]
    from_features = [v for v in decl.variables if v not in fields and v in features]
    for variable in decl.variables:
        if variable not in fields and variable not in features:
            close = close_names(variable, [*fields, *features])
            hint = f"; close names: {', '.join(close)}" if close else ""
            raise _declaration_error(
                workspace, decl, ("variables", variable),
                f"variable {variable!r} is neither a field of {decl.event_type} events nor a feature "
                f"declared in the workspace's features{hint}")
    return own, from_features


def _declaration_error(workspace: Workspace, decl: ScenarioDeclaration, where: tuple[str, ...],
                       message: str) -> WorkspaceError:
    doc = load_yaml(workspace.root / SCORECARDS_FILE, display_name=SCORECARDS_FILE)
    return doc.error(("scorecards", decl.name, *where), f"scorecard {decl.name!r}: {message}")


def labelled_applications(workspace: Workspace, decl: ScenarioDeclaration, *,
                          feature_values: pd.DataFrame | None = None) -> pd.DataFrame:
    """The scenario's labelled events, oldest first: one column per variable (event fields as they
    are, features at their point-in-time value), then ``__target``, ``__event_id``, ``__event_time``.

    ``feature_values``: features already computed (see :func:`train_scenario`)."""
    from finrisk.store import Warehouse

    own, from_features = variable_sources(workspace, decl)
    with Warehouse.open(workspace) as wh:
        frame: pd.DataFrame = wh.sql(scenario_query(decl, own)).to_pandas()
    if not from_features:
        return frame
    have = [] if feature_values is None else [f for f in from_features if f in feature_values.columns]
    values = feature_values[have] if feature_values is not None and len(have) == len(from_features) else \
        point_in_time_features(workspace, decl.event_type, from_features)
    joined = values.reindex(frame["__event_id"].astype(str).to_numpy())
    for feature in from_features:
        frame[feature] = joined[feature].to_numpy()
    return frame[[*decl.variables, "__target", "__event_id", "__event_time"]]


def train_scenario(workspace: Workspace, name: str, *, development_share: float = 0.7,
                   feature_values: pd.DataFrame | None = None) -> TrainedScenario:
    """Fit scenario ``name`` from the warehouse; register the card with its report (HTML).

    ``feature_values``: the point-in-time features of the scenario's events already computed
    (:func:`~finrisk.scoring.features.point_in_time_features`, e.g. once for several scenarios);
    those it lacks are computed here."""
    scenarios = load_scenarios(workspace)
    if name not in scenarios:
        known = ", ".join(sorted(scenarios)) or f"none: {SCORECARDS_FILE} declares no scorecard"
        raise WorkspaceError(f"no scorecard named {name!r} (declared: {known})", file=SCORECARDS_FILE)
    decl = scenarios[name]
    estimator = decl.estimator()
    frame = labelled_applications(workspace, decl, feature_values=feature_values)
    from_features = variable_sources(workspace, decl)[1]
    y = frame.pop("__target").to_numpy()
    event_ids, times = frame.pop("__event_id"), frame.pop("__event_time")
    n_dev = int(len(frame) * development_share)
    if n_dev < 50 or y[:n_dev].sum() < 5 or y[:n_dev].sum() == n_dev:
        raise ScorecardError(f"scorecard {name!r}: {len(frame)} labelled {decl.event_type} row(s), "
                             f"{int(y.sum())} bad: too few to fit (need 50+ development rows with 5+ bads and goods)")
    dev, val = frame.iloc[:n_dev], frame.iloc[n_dev:]
    estimator.fit(dev, y[:n_dev])
    if not estimator.model_.variables:
        raise ScorecardError(f"scorecard {name!r}: no declared variable passed selection (IV at least min_iv="
                             f"{estimator.min_iv}, stepwise p-value below alpha={estimator.alpha}) on {n_dev} rows")
    estimator.model_.name = name
    report = build_report(estimator, val if len(val) else dev, y[n_dev:] if len(val) else y[:n_dev],
                          baseline=dev, name=f"{name} (out of time)")
    from finrisk.scoring.registered import CARD_FILE, register_scorecard

    fingerprint = hashlib.sha256()
    for eid, label in zip(event_ids.iloc[:n_dev], y[:n_dev], strict=True):
        fingerprint.update(f"{eid}|{int(label)}\n".encode())
    model = estimator.model_
    meta = {
        "event_type": decl.event_type, "target": decl.target, "products": decl.products,
        "window": f"{times.iloc[0]:%Y-%m-%d}..{times.iloc[n_dev - 1]:%Y-%m-%d}",
        "validation_window": f"{times.iloc[n_dev]:%Y-%m-%d}..{times.iloc[-1]:%Y-%m-%d}" if len(val) else None,
        "train_rows": n_dev, "train_bads": int(y[:n_dev].sum()), "validation_rows": len(val),
        "metrics": {k: float(v) for k, v in {**report.metrics, "psi": report.psi}.items() if v is not None},
        "data_fingerprint": fingerprint.hexdigest()[:32],
        "features": [v.name for v in model.variables if v.name in from_features],
        "variables": [{"name": v.name, "dimension": v.dimension, "reason_code": v.reason_code,
                       "iv": float(v.binning.iv), "trend": v.binning.trend} for v in model.variables],
        "declaration": decl.model_dump(exclude={"name"}),
    }
    version, champion = register_scorecard(workspace, name, model, meta, params=estimator.get_params(),
                                           report_html=report.to_html())
    folder = workspace.root / "models" / name / f"v{version}"
    return TrainedScenario(model=model, estimator=estimator, card_path=folder / CARD_FILE,
                           report_path=folder / "report.html", report=report, development_rows=n_dev,
                           validation_rows=len(val), version=version, champion=champion)
