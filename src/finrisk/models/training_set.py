"""Training sets: events of one type over a date range, their point-in-time features and late labels.

Features come from the offline compiler (:func:`finrisk.features.offline.warehouse_features`), so
a row's features see only events strictly before it. Labels arrive late, as in the field: a
fraud becomes known at ``fraud_known_at``, and a legitimate event is taken as legitimate once it
has *matured*, ``label_delay`` after it happened, with no fraud report. So the label of a row as
known at a moment ``as_of`` is (:meth:`TrainingSet.labels_at`)::

    1     if fraud_known_at <= as_of
    0     if event_time + label_delay <= as_of (and no fraud known by then)
    None  otherwise: not yet known, and never used for training at as_of

Where a fraud becomes known depends on the label source:

- ``ground_truth``: the world's own label (``labels_<type>.label_is_fraud``, e.g. from the
  simulator), known ``label_delay`` after the event;
- ``feedback``: what a bank really learns: a ``chargeback`` with reason ``fraud`` or a
  ``case_disposition`` of ``confirmed_fraud`` that refers to the event, known at its own time.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow.parquet as pq

from finrisk.config import Workspace
from finrisk.errors import ModelError
from finrisk.features.offline import warehouse_features
from finrisk.features.online import fingerprint
from finrisk.models.serving import EVENT_PREFIX
from finrisk.store.warehouse import Warehouse

__all__ = ["LABEL_SOURCES", "LabelSource", "TrainingSet", "build_training_set"]

LabelSource = Literal["ground_truth", "feedback"]
LABEL_SOURCES: tuple[LabelSource, ...] = ("ground_truth", "feedback")

#: Entity of a row for Card Precision@k: the first of these fields the event has (a card, else ...).
_ENTITY_FIELDS = ("card_id", "account_id", "customer_id")


@dataclass
class TrainingSet:
    """Rows (one per event) with inputs, timing and label columns.

    ``frame`` columns: ``event_id, event_time, entity, amount, fraud_known_at, matured_at`` and one
    column per input (features by name, then ``event.<field>``), float64 with NaN for missing.
    """

    frame: pd.DataFrame
    inputs: list[str]
    event_type: str
    label_source: LabelSource
    label_delay: timedelta
    feature_fingerprint: str

    def x(self, rows: pd.DataFrame | None = None) -> npt.NDArray[np.float64]:
        """The input matrix of ``rows`` (default: all), columns in :attr:`inputs` order."""
        frame = self.frame if rows is None else rows
        return frame[self.inputs].to_numpy(dtype=np.float64, na_value=np.nan)

    def labels_at(self, as_of: datetime | None, rows: pd.DataFrame | None = None) -> pd.Series:
        """Each row's label as known at ``as_of`` (1, 0, or NA = unknown); ``None``: eventually known."""
        frame = self.frame if rows is None else rows
        if as_of is None:
            return frame["fraud_known_at"].notna().astype("Int8")
        stamp = pd.Timestamp(as_of)
        stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp
        fraud = frame["fraud_known_at"].notna() & (frame["fraud_known_at"] <= stamp)
        matured = frame["matured_at"] <= stamp
        out = pd.Series(pd.NA, index=frame.index, dtype="Int8")
        out[matured] = 0
        out[fraud] = 1
        return out


def build_training_set(
    ws: Workspace,
    *,
    event_type: str,
    start: date | datetime | None = None,
    end: date | datetime | None = None,
    label_delay: timedelta = timedelta(days=7),
    label_source: LabelSource = "ground_truth",
    fields: Sequence[str] = ("amount",),
    features_file: Path | None = None,
) -> TrainingSet:
    """Rows of every ``event_type`` event in ``[start, end]`` with features, fields and late labels.

    ``fields`` are numeric event fields used as model inputs (``event.<field>``); a date ``end``
    includes that day. ``features_file`` keeps the computed features (default: a temporary file).
    """
    if label_source not in LABEL_SOURCES:
        raise ModelError(f"label_source: expected one of {', '.join(LABEL_SOURCES)}, got {label_source!r}")
    if label_delay < timedelta(0):
        raise ModelError(f"label_delay: expected a duration >= 0, got {label_delay}")
    if event_type not in ws.event_types:
        raise ModelError(f"event_type: unknown event type {event_type!r}; declared: {', '.join(ws.event_types.names)}")
    declared = {f.name for f in ws.event_types.get(event_type).fields}
    for name in fields:
        if name not in declared:
            raise ModelError(f"fields: {event_type} has no field {name!r}")
    with tempfile.TemporaryDirectory() as tmp:
        out = features_file or Path(tmp) / "features.parquet"
        warehouse_features(ws, event_types=[event_type], start=start, end=end, out=out)
        features = pq.read_table(out).to_pandas()
    if features.empty:
        raise ModelError(f"no {event_type} events between {start or 'the beginning'} and {end or 'the end'}")
    feature_cols = [c for c in features.columns[3:] if _numeric(features[c])]
    frame = features[["event_id", "event_time", *feature_cols]].copy()
    frame[feature_cols] = frame[feature_cols].astype("float64")
    extra = _event_columns(ws, event_type, fields, declared, label_source)
    frame = frame.merge(extra, on="event_id", how="left", validate="one_to_one")
    frame["event_time"] = pd.to_datetime(frame["event_time"], utc=True)
    frame["matured_at"] = frame["event_time"] + pd.Timedelta(label_delay)
    if label_source == "ground_truth":
        frame["fraud_known_at"] = frame["matured_at"].where(frame.pop("_truth").fillna(False).astype(bool))
    else:
        frame["fraud_known_at"] = pd.to_datetime(frame.pop("_reported_at"), utc=True)
    inputs = feature_cols + [EVENT_PREFIX + f for f in fields]
    frame = frame.sort_values(["event_time", "event_id"], kind="stable").reset_index(drop=True)
    return TrainingSet(frame=frame, inputs=inputs, event_type=event_type, label_source=label_source,
                       label_delay=label_delay, feature_fingerprint=fingerprint(ws.features))


def _numeric(column: pd.Series) -> bool:
    return bool(pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column))


def _event_columns(ws: Workspace, event_type: str, fields: Sequence[str], declared: set[str],
                   label_source: LabelSource) -> pd.DataFrame:
    """``event_id``, the entity and amount, the input fields and the raw label columns of each event."""
    keys = [f"CAST(e.{f} AS VARCHAR)" for f in _ENTITY_FIELDS if f in declared] or ["CAST(NULL AS VARCHAR)"]
    cols = ["e.event_id", f"COALESCE({', '.join(keys)}) AS entity",
            "CAST(e.amount AS DOUBLE) AS amount" if "amount" in declared else "CAST(NULL AS DOUBLE) AS amount"]
    cols += [f'CAST(e."{f}" AS DOUBLE) AS "{EVENT_PREFIX}{f}"' for f in fields]
    table = f'"{event_type}"'
    if label_source == "ground_truth":
        cols.append("l.label_is_fraud AS _truth")
        sql = f'SELECT {", ".join(cols)} FROM {table} e LEFT JOIN "labels_{event_type}" l USING (event_id)'
    else:
        cols.append("r.reported_at AS _reported_at")
        sql = (f"WITH r AS (SELECT ref_event_id, min(event_time) AS reported_at FROM ("
               f"SELECT ref_event_id, event_time FROM chargeback WHERE reason = 'fraud' UNION ALL "
               f"SELECT ref_event_id, event_time FROM case_disposition WHERE disposition = 'confirmed_fraud') "
               f"GROUP BY 1) SELECT {', '.join(cols)} FROM {table} e LEFT JOIN r ON r.ref_event_id = e.event_id")
    with Warehouse.open(ws) as wh:
        result: pd.DataFrame = wh.sql(sql).to_pandas()
    return result

