"""Behavioural features (``features.yaml``) as scorecard variables: which names they are, and their
point-in-time values for the application events a scenario trains on.

A scenario variable is either a field of its event type (the application's own column) or a
declared feature. Training computes the features with the offline compiler over the whole
warehouse history, so an application's value counts only the events strictly before it — the
value the online engine hands a served card at decision time (``score(event, features)``), where
the card reads the same names. Only the features the card names (and the features a derived one
reads) are built, over only the event types they aggregate, so training stays quick.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence

import duckdb
import pandas as pd
import pyarrow as pa

from finrisk.config import Workspace
from finrisk.errors import QueryError
from finrisk.features.offline import build_features
from finrisk.features.spec import FeatureSet

__all__ = ["close_names", "feature_subset", "point_in_time_features"]


def close_names(name: str, known: Sequence[str], n: int = 5) -> list[str]:
    """Up to ``n`` known names that look like ``name`` (a typo's likely intent)."""
    return difflib.get_close_matches(name, list(known), n=n, cutoff=0.6)


def feature_subset(feature_set: FeatureSet, names: Sequence[str]) -> FeatureSet:
    """The features ``names`` and every feature they read, in declaration (dependency) order."""
    return feature_set.subset(names)


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def point_in_time_features(workspace: Workspace, event_type: str, names: Sequence[str]) -> pd.DataFrame:
    """Features ``names`` of every ``event_type`` event, indexed by ``event_id`` (text).

    Numbers and booleans become float64 (NaN = no value, as a served card reads ``None``); other
    values stay text.
    """
    from finrisk.store import Warehouse

    subset = feature_subset(workspace.features, names)
    history = sorted({t for f in subset.window_features for t in f.events} | {event_type})
    with Warehouse.open(workspace) as wh:
        con = wh.connect()
        try:
            union = " UNION ALL BY NAME ".join(f"SELECT * FROM {_quote(t)}" for t in history)
            con.execute(f"CREATE TEMP VIEW _sc_history AS {union}")
            con.execute("CREATE TEMP TABLE _sc_targets AS SELECT event_id FROM _sc_history WHERE event_type = ?",
                        [event_type])
            table = build_features(subset, "_sc_history", targets="_sc_targets", con=con)
        except duckdb.Error as exc:
            raise QueryError(f"scorecard features of {event_type} events: {str(exc).strip()}") from None
        finally:
            con.close()
    out = pd.DataFrame(index=pd.Index([str(v) for v in table.column("event_id").to_pylist()], name="event_id"))
    for name in names:
        column = table.column(name)
        if pa.types.is_boolean(column.type) or pa.types.is_integer(column.type) or pa.types.is_floating(column.type):
            out[name] = column.cast(pa.float64()).to_numpy(zero_copy_only=False)
        else:
            out[name] = column.to_pandas().to_numpy()
    return out
