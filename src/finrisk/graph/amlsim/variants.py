"""Variants of AMLSim samples built at test time, to check the benchmark on data shaped unlike our two samples.

Never stored: they are made from the shared samples on the fly (the issue's check runs on AMLSim data the team
has not seen, and these are the nearest stand-ins).

* ``union_samples`` -- several samples side by side, node ids offset, so one data set holds several patterns
  (like IBM's ``20K_fanin200cycle200``); ``keep_labels`` carries each account's pattern as a label (what the
  newer AMLSim output writes), else only ``metadata.txt``'s pattern list (the ``sample/`` layout).
* ``one_transfer_per_hop`` -- each pair's transfers in one step merged into one transfer of their sum: AMLSim
  versions that do not split a hop's payment into legs.
* ``write_sample`` -- a sample written in one of the three layouts ``load_amlsim`` reads.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from finrisk.graph.amlsim.layouts import AmlSimSample
from finrisk.graph.amlsim.patterns import attribute_patterns

LAYOUTS = ("sample", "outputs_v1", "outputs_v2")


def union_samples(samples: list[AmlSimSample], *, keep_labels: bool) -> AmlSimSample:
    """The samples in one data set, each one's ids shifted past the previous one's largest id."""
    frames, laundering, listed = [], [], []
    labels: dict[str, frozenset[int]] = {}
    offset, n_nodes = 0, 0
    for sample in samples:
        tx = sample.transfers
        frames.append(tx.assign(src=tx["src"] + offset, dst=tx["dst"] + offset))
        laundering.append(sample.laundering + offset)
        if keep_labels:
            for name, accounts in attribute_patterns(sample).members.items():
                labels[name] = labels.get(name, frozenset()) | frozenset(a + offset for a in accounts)
        listed += [p for p in sample.listed_patterns if p not in listed]
        top = max(int(tx[["src", "dst"]].to_numpy().max(initial=0)), int(sample.laundering.max(initial=0)),
                  sample.n_nodes - 1)
        offset += top + 1
        n_nodes += sample.n_nodes
    return AmlSimSample(transfers=pd.concat(frames, ignore_index=True), laundering=np.concatenate(laundering),
                        n_nodes=n_nodes, layout="union", labels=labels, listed_patterns=tuple(listed))


def one_transfer_per_hop(sample: AmlSimSample) -> AmlSimSample:
    """Every (src, dst, step) group of transfers as one transfer of their summed amount."""
    tx = sample.transfers
    merged = (tx.groupby(["src", "dst", "time"], sort=False)
              .agg(amount=("amount", "sum"), laundering=("laundering", "any")).reset_index())
    merged["amount"] = merged["amount"].round(2)
    return AmlSimSample(transfers=merged[["src", "dst", "amount", "time", "laundering"]],
                        laundering=sample.laundering, n_nodes=sample.n_nodes, layout=sample.layout,
                        labels=sample.labels, listed_patterns=sample.listed_patterns)


def write_sample(sample: AmlSimSample, dest: Path, layout: str) -> Path:
    """Write ``sample`` under ``dest`` in ``layout`` (one of ``LAYOUTS``); returns ``dest``."""
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {LAYOUTS}, not {layout!r}")
    dest.mkdir(parents=True, exist_ok=True)
    tx = sample.transfers
    ids = np.unique(np.concatenate([tx["src"].to_numpy(), tx["dst"].to_numpy(), sample.laundering]))
    bad = np.isin(ids, sample.laundering)
    attribution = attribute_patterns(sample)
    if layout == "sample":
        sent = tx[tx["laundering"].to_numpy(bool)].groupby("src")["time"].min()
        step = sent.reindex(ids).fillna(-1).to_numpy(np.int64)
        pd.DataFrame({"nodeid": ids, "isFraud": bad.astype(int), "fraudStep": step}).to_csv(
            dest / "nodes.csv", index=False)
        tx.rename(columns={"src": "sourceNodeId", "dst": "targetNodeId", "amount": "value"})[
            ["sourceNodeId", "targetNodeId", "value", "time"]].to_csv(dest / "transactions.csv", index=False)
        if sample.listed_patterns:
            (dest / "metadata.txt").write_text(f"patterns: {', '.join(sample.listed_patterns)}\n")
        return dest
    members = pd.DataFrame([(a, name) for name, accts in attribution.members.items() for a in sorted(accts)],
                           columns=["acct", "kind"])
    if layout == "outputs_v1":
        pd.DataFrame({"ACCOUNT_ID": ids, "isFraud": np.where(bad, "true", "false")}).to_csv(
            dest / "accounts.csv", index=False)
        pd.DataFrame({"TXN_ID": np.arange(len(tx)), "ACCOUNT_ID": tx["src"], "COUNTER_PARTY_ACCOUNT_NUM": tx["dst"],
                      "TXN_AMOUNT_ORIG": tx["amount"], "start": tx["time"], "end": tx["time"]}).to_csv(
            dest / "tx.csv", index=False)
        pd.DataFrame({"ALERT_KEY": np.arange(len(members)), "ACCOUNT_ID": members["acct"],
                      "CHECK_NAME": members["kind"]}).to_csv(dest / "alerts.csv", index=False)
        return dest
    base = pd.Timestamp("2017-01-01", tz="UTC")
    stamps = (base + pd.to_timedelta(tx["time"].to_numpy(), unit="D")).strftime("%Y-%m-%dT%H:%M:%SZ")
    pd.DataFrame({"acct_id": [f"A{i}" for i in ids], "prior_sar_count": np.where(bad, "True", "False")}).to_csv(
        dest / "accounts.csv", index=False)
    pd.DataFrame({"tran_id": np.arange(len(tx)), "orig_acct": [f"A{i}" for i in tx["src"]],
                  "bene_acct": [f"A{i}" for i in tx["dst"]], "tx_type": "TRANSFER", "base_amt": tx["amount"],
                  "tran_timestamp": stamps, "is_sar": np.where(tx["laundering"], "True", "False")}).to_csv(
        dest / "transactions.csv", index=False)
    pd.DataFrame({"alert_id": np.arange(len(members)), "alert_type": members["kind"],
                  "acct_id": [f"A{i}" for i in members["acct"]]}).to_csv(dest / "alert_accounts.csv", index=False)
    return dest
