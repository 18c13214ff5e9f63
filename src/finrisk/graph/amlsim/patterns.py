"""Which laundering pattern each labelled AMLSim account belongs to, from the data alone (never detector output).

Why: per-pattern recall needs each pattern's own accounts. The published samples hold one pattern each, and the
old benchmark counted every ``isFraud`` node as that pattern's; a mixed sample (e.g. IBM's
``20K_fanin200cycle200``) breaks that. In order:

1. **labels** -- the data's own: ``alert_type`` (``alert_accounts.csv``, ``alert_transactions.csv``) or
   ``CHECK_NAME`` (``alerts.csv``), spread to the labelled accounts joined to them by laundering transfers when
   the labels in that group agree (the old ``alerts.csv`` names only each alert's main account);
2. **single pattern** -- when the labels and ``metadata.txt`` know one pattern only, every labelled account is
   that pattern's (the published samples: the old counting, unchanged);
3. **shape** -- a group of labelled accounts joined by laundering transfers (the transfers the data marks:
   ``is_sar``, or the payment an account sends at its ``fraudStep``) takes the pattern its transfers draw: a
   path or loop with >= 2 transfers, no account paying or paid by two members -> ``cycle``; >= 2 members all
   paying one account (a star) -> ``fan_in``; the mirror -> ``fan_out``; a lone transfer or any other drawing
   (overlapping patterns merge into one group) stays open. Only patterns the data lists (metadata / labels)
   are given, when it lists any;
4. **links** -- an open labelled account takes the pattern of the attributed laundering accounts it has the
   most transfers with, ordinary ones included (AMLSim links an alert's members in its base graph and ordinary
   payments run over those links), when one pattern leads; ``LINK_ROUNDS`` times.

The rest is ``unattributed``: counted in the overall figures, in no pattern's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

if TYPE_CHECKING:
    from finrisk.graph.amlsim.layouts import AmlSimSample

KNOWN = {"cycle": "cycle", "fanin": "fan_in", "fanout": "fan_out", "bipartite": "bipartite", "stack": "stack",
         "random": "random", "scattergather": "scatter_gather", "gatherscatter": "gather_scatter"}
LINK_ROUNDS = 2


def normalise_pattern(name: str) -> str:
    """AMLSim's spellings of one pattern to one name: ``fan-in``, ``fanin``, ``fan_ins`` -> ``fan_in``."""
    text = str(name).strip().lower()
    if text in {"", "nan", "none"}:
        return ""
    key = re.sub(r"[^a-z]", "", text)
    for candidate in (key, key[:-1] if key.endswith("s") else key):
        if candidate in KNOWN:
            return KNOWN[candidate]
    return re.sub(r"[^a-z0-9]+", "_", text).strip("_")


def patterns_in_metadata(text: str) -> tuple[str, ...]:
    """The patterns a ``metadata.txt`` line ``patterns: 200 cycles, 100 fan-in`` names, in order."""
    for line in text.splitlines():
        head, _, rest = line.partition(":")
        if head.strip().lower() == "patterns":
            items = re.split(r",|;|\band\b|\+", rest)
            names = [normalise_pattern(re.sub(r"^[\d,.\s]+", "", item)) for item in items]
            return tuple(dict.fromkeys(n for n in names if n))
    return ()


@dataclass(frozen=True)
class Attribution:
    """Labelled accounts per pattern, those left open, and how many each step placed."""

    members: dict[str, frozenset[int]]
    unattributed: frozenset[int]
    steps: dict[str, int]

    @property
    def method(self) -> str:
        return " + ".join(step for step, n in self.steps.items() if n) or "none"


def _laundering_groups(sample: AmlSimSample, labelled: np.ndarray) -> tuple[pd.DataFrame, np.ndarray]:
    """Distinct marked (src, dst) pairs between labelled accounts and the group each labelled account is in."""
    tx = sample.transfers
    marked = tx.loc[tx["laundering"].to_numpy(bool), ["src", "dst"]]
    marked = marked[np.isin(marked["src"], labelled) & np.isin(marked["dst"], labelled)]
    pairs = marked[marked["src"] != marked["dst"]].drop_duplicates()
    src = np.searchsorted(labelled, pairs["src"].to_numpy())
    dst = np.searchsorted(labelled, pairs["dst"].to_numpy())
    n = len(labelled)
    graph = coo_matrix((np.ones(len(src)), (src, dst)), shape=(n, n))
    _, group = connected_components(graph, directed=True, connection="weak")
    return pairs.assign(g=group[src] if len(src) else np.empty(0, np.int64)), group


def _shapes(pairs: pd.DataFrame) -> dict[int, str]:
    """Per group, the pattern its laundering transfers draw (see the module docstring); open groups left out."""
    if pairs.empty:
        return {}
    size = pairs.groupby("g").size()
    max_in = pairs.groupby(["g", "dst"]).size().groupby(level=0).max()
    max_out = pairs.groupby(["g", "src"]).size().groupby(level=0).max()
    frame = pd.DataFrame({"n": size, "i": max_in, "o": max_out,
                          "receivers": pairs.groupby("g")["dst"].nunique(),
                          "senders": pairs.groupby("g")["src"].nunique()})
    out: dict[int, str] = {}
    for g, n, i, o, receivers, senders in frame.itertuples():
        name = ("" if n < 2 else "cycle" if i <= 1 and o <= 1 else "fan_in" if receivers == 1
                else "fan_out" if senders == 1 else "")
        if name:
            out[int(g)] = name
    return out


def attribute_patterns(sample: AmlSimSample) -> Attribution:
    """Attribute every labelled account to a pattern (see the module docstring); labels only, no detector."""
    labelled = np.unique(sample.laundering)
    label_set = set(labelled.tolist())
    pattern_of: dict[int, set[str]] = {}
    for name, accounts in sample.labels.items():
        for acct in accounts & label_set:
            pattern_of.setdefault(acct, set()).add(name)
    steps = {"labels": len(pattern_of), "single pattern": 0, "shape": 0, "links": 0}
    known = set(sample.labels) | set(sample.listed_patterns)
    if len(known) == 1 and len(pattern_of) < len(label_set):
        only = next(iter(known))
        steps["single pattern"] = len(label_set) - len(pattern_of)
        for acct in label_set:
            pattern_of.setdefault(acct, set()).add(only)
    open_accounts = label_set - set(pattern_of)
    if open_accounts and len(labelled):
        pairs, group = _laundering_groups(sample, labelled)
        shapes = _shapes(pairs)
        members = pd.DataFrame({"acct": labelled, "g": group})
        members = members[members["g"].isin(np.unique(pairs["g"]))]
        for g, grp in members.groupby("g"):
            accts = grp["acct"].tolist()
            if not set(accts) & open_accounts:
                continue
            told = set().union(*(pattern_of.get(a, set()) for a in accts))
            if len(told) == 1:
                name, step = next(iter(told)), "labels"
            else:
                name, step = ("" if told else shapes.get(int(str(g)), "")), "shape"
                if known and name not in known:
                    name = ""
            if name:
                for acct in set(accts) & open_accounts:
                    pattern_of[acct] = {name}
                    steps[step] += 1
        open_accounts = label_set - set(pattern_of)
    for _ in range(LINK_ROUNDS):
        if not open_accounts:
            break
        placed = _by_links(sample, open_accounts, pattern_of)
        steps["links"] += len(placed)
        pattern_of.update({acct: {name} for acct, name in placed.items()})
        open_accounts -= set(placed)
    out: dict[str, set[int]] = {}
    for acct, names in pattern_of.items():
        for name in names:
            out.setdefault(name, set()).add(acct)
    return Attribution(members={n: frozenset(m) for n, m in sorted(out.items())},
                       unattributed=frozenset(open_accounts), steps=steps)


def _by_links(sample: AmlSimSample, open_accounts: set[int], pattern_of: dict[int, set[str]]) -> dict[int, str]:
    """Open account -> the pattern of the attributed laundering accounts it shares the most transfers with."""
    tx = sample.transfers
    ends = pd.DataFrame({"u": np.concatenate([tx["src"].to_numpy(), tx["dst"].to_numpy()]),
                         "v": np.concatenate([tx["dst"].to_numpy(), tx["src"].to_numpy()])})
    ends = ends[ends["u"].isin(open_accounts)]
    known = pd.DataFrame([(a, n) for a, names in pattern_of.items() for n in names], columns=["v", "pattern"])
    counts = ends.merge(known, on="v").groupby(["u", "pattern"]).size().rename("n").reset_index()
    if counts.empty:
        return {}
    counts = counts.sort_values(["u", "n"], ascending=[True, False])
    top = counts.groupby("u").head(2)
    lead = top.groupby("u")["n"].agg(lambda s: s.iloc[0] > (s.iloc[1] if len(s) > 1 else 0))
    best = top.groupby("u").head(1).set_index("u")["pattern"]
    return {int(u): str(best[u]) for u in lead.index[lead.to_numpy(bool)]}
