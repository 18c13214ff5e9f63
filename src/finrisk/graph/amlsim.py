"""Load an IBM AMLSim sample (``nodes.csv`` + ``transactions.csv`` in a .tgz) and score detections on it.

Used by ``benchmarks/graph_amlsim.py`` and its test. Node-level counting: a node is *flagged* when it is a
member of at least one alert; *labelled* when ``isFraud`` is 1. Precision = flagged and labelled / flagged,
recall = flagged and labelled / labelled. Per pattern, the flagged set is the members of that typology's
alerts and the labelled set is every laundering node of the sample (each sample injects one pattern).
"""

from __future__ import annotations

import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from finrisk.errors import InputFileError


@dataclass(frozen=True)
class AmlSimSample:
    """Transfers as event-like columns plus the node labels."""

    transfers: pd.DataFrame  # src, dst, amount, time (steps)
    laundering: npt.NDArray[np.int64]  # node ids with isFraud == 1
    n_nodes: int


def _read_member(tar: tarfile.TarFile, name: str) -> pd.DataFrame:
    where = str(tar.name)
    members = [m for m in tar.getmembers() if m.isfile() and Path(m.name).name == name]
    if not members:
        raise InputFileError(f"{where}: no {name} inside (not an AMLSim sample?)")
    members.sort(key=lambda m: m.name.count("/"))
    handle = tar.extractfile(members[0])
    if handle is None:
        raise InputFileError(f"{where}: {name} cannot be read")
    return pd.read_csv(handle)


def load_amlsim(path: str | Path) -> AmlSimSample:
    """Read an AMLSim sample archive; the first ``nodes.csv``/``transactions.csv`` nearest the top wins."""
    try:
        with tarfile.open(path, "r:*") as tar:
            nodes = _read_member(tar, "nodes.csv")
            tx = _read_member(tar, "transactions.csv")
    except (OSError, tarfile.TarError) as exc:
        raise InputFileError(f"{path}: cannot read the AMLSim archive ({exc.__class__.__name__})") from None
    need = {"sourceNodeId", "targetNodeId", "value", "time"}
    if not need <= set(tx.columns) or not {"nodeid", "isFraud"} <= set(nodes.columns):
        raise InputFileError(f"{path}: transactions.csv needs {sorted(need)} and nodes.csv nodeid, isFraud")
    transfers = pd.DataFrame({
        "src": tx["sourceNodeId"].to_numpy(np.int64), "dst": tx["targetNodeId"].to_numpy(np.int64),
        "amount": tx["value"].to_numpy(np.float64), "time": tx["time"].to_numpy(np.int64),
    })
    laundering = nodes.loc[nodes["isFraud"] == 1, "nodeid"].to_numpy(np.int64)
    return AmlSimSample(transfers=transfers, laundering=laundering, n_nodes=len(nodes))


def node_scores(flagged: set[Any], labelled: set[Any]) -> dict[str, float | int]:
    """Node-level precision and recall of ``flagged`` against ``labelled`` (both sets of entity ids)."""
    tp = len(flagged & labelled)
    return {"flagged": len(flagged), "labelled": len(labelled), "true_positives": tp,
            "precision": round(tp / len(flagged), 4) if flagged else 0.0,
            "recall": round(tp / len(labelled), 4) if labelled else 0.0}
