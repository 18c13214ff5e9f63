"""Every AMLSim layout loads (from a directory and a .tgz), bad ones fail naming the file and the columns."""

from __future__ import annotations

import json
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from finrisk.errors import InputFileError
from finrisk.graph.amlsim import (
    AmlSimSample,
    attribute_patterns,
    load_amlsim,
    normalise_pattern,
    one_transfer_per_hop,
    patterns_in_metadata,
    union_samples,
    write_sample,
)

# Headers as AMLSim writes them (IBM/AMLSim sample/, sample/outputs/ and paramFiles/schema.json).
SAMPLE = {
    "nodes.csv": "nodeid,isFraud,init_balance,fraudStep\n0,0,10.0,-1\n1,1,10.0,3\n2,1,10.0,5\n3,1,10.0,-1\n"
                 "4,0,10.0,-1\n",
    "transactions.csv": "sourceNodeId,targetNodeId,value,time\n1,3,4.5,3\n1,3,4.5,3\n2,3,4.0,5\n0,4,150.2,2\n"
                        "1,2,120.0,7\n",
    "metadata.txt": "nodes: 5 (3 fraud nodes)\ntransactions: 5\npatterns: 1 fan-in\n",
}
OUTPUTS_V1 = {
    "accounts.csv": "ACCOUNT_ID,PRIMARY_CUSTOMER_ID,init_balance,start,end,country,business,suspicious,isFraud,"
                    "modelID\n20,C_20,131.01,1,50,US,I,False,true,0\n21,C_21,172.98,1,50,US,I,False,false,0\n"
                    "24,C_24,147.21,1,50,US,I,False,true,0\n25,C_25,110.07,1,50,US,I,False,true,0\n",
    "tx.csv": "TXN_ID,ACCOUNT_ID,COUNTER_PARTY_ACCOUNT_NUM,TXN_SOURCE_TYPE_CODE,tx_count,TXN_AMOUNT_ORIG,start,end\n"
              "13,20,24,CREDIT,1,131.0,3,3\n71,24,25,DEPOSIT,1,147.21,25,25\n99,25,20,CREDIT,1,110.06,35,35\n"
              "4,21,25,CREDIT,1,172.97,2,2\n",
    "alerts.csv": "ALERT_KEY,ALERT_TEXT,ACCOUNT_ID,CUSTOMER_ID,EVENT_DATE,CHECK_NAME,Organization_Type,"
                  "Escalated_To_Case_Investigation\n0,1,25,25,20170218,cycle,INDIVIDUAL,YES\n",
}
OUTPUTS_V2 = {
    "accounts.csv": "acct_id,dsply_nm,type,acct_stat,prior_sar_count,initial_deposit\nA1,n1,I,A,False,10\n"
                    "A2,n2,I,A,True,10\nA3,n3,I,A,True,10\nA4,n4,I,A,True,10\nA5,n5,I,A,True,10\n",
    "transactions.csv": "tran_id,orig_acct,bene_acct,tx_type,base_amt,tran_timestamp,is_sar,alert_id\n"
                        "1,A2,A3,TRANSFER,500.0,2017-01-02T00:00:00Z,True,7\n"
                        "2,A3,A2,TRANSFER,450.0,2017-01-05T00:00:00Z,True,7\n"
                        "3,A4,A5,TRANSFER,300.0,2017-01-03T00:00:00Z,True,8\n"
                        "4,A1,A2,TRANSFER,80.5,2017-01-04T00:00:00Z,False,-1\n",
    "alert_accounts.csv": "alert_id,alert_type,acct_id,acct_name,is_sar,model_id,schedule_id,bank_id\n"
                          "7,cycle,A2,n2,True,1,1,b\n7,cycle,A3,n3,True,1,1,b\n8,fan_out,A4,n4,True,1,1,b\n",
}


def _write(root: Path, files: dict[str, str], *, tgz: bool) -> Path:
    folder = root / "data" / "run1"
    folder.mkdir(parents=True)
    for name, text in files.items():
        (folder / name).write_text(text)
    if not tgz:
        return root / "data"
    archive = root / "data.tgz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(folder, arcname="run1")
    return archive


@pytest.mark.parametrize("tgz", [False, True])
def test_sample_layout_marks_the_payment_sent_at_fraud_step(tmp_path: Path, tgz: bool) -> None:
    sample = load_amlsim(_write(tmp_path, SAMPLE, tgz=tgz))
    assert sample.layout == "sample" and sample.n_nodes == 5
    assert sorted(sample.laundering.tolist()) == [1, 2, 3]
    assert sample.listed_patterns == ("fan_in",)
    # 1 -> 2 at step 7 is between two laundering accounts but not sent at 1's fraudStep (3): not laundering.
    assert sample.transfers["laundering"].tolist() == [True, True, True, False, False]
    attribution = attribute_patterns(sample)
    assert attribution.members == {"fan_in": frozenset({1, 2, 3})}
    assert attribution.method == "single pattern"


@pytest.mark.parametrize("tgz", [False, True])
def test_older_outputs_read_check_name_as_the_pattern(tmp_path: Path, tgz: bool) -> None:
    sample = load_amlsim(_write(tmp_path, OUTPUTS_V1, tgz=tgz))
    assert sample.layout == "outputs_v1"
    assert sorted(sample.laundering.tolist()) == [20, 24, 25]
    assert sample.labels == {"cycle": frozenset({25})}
    assert sample.transfers["time"].tolist() == [3, 25, 35, 2]
    attribution = attribute_patterns(sample)
    assert attribution.members == {"cycle": frozenset({20, 24, 25})}
    # alerts.csv names only the main account; one pattern known, so the other laundering accounts are its.
    assert attribution.steps["labels"] == 1 and attribution.steps["single pattern"] == 2


@pytest.mark.parametrize("tgz", [False, True])
def test_newer_outputs_read_string_ids_timestamps_and_alert_types(tmp_path: Path, tgz: bool) -> None:
    sample = load_amlsim(_write(tmp_path, OUTPUTS_V2, tgz=tgz))
    assert sample.layout == "outputs_v2" and sample.n_nodes == 5
    assert len(sample.laundering) == 4
    tx = sample.transfers
    assert tx["time"].tolist()[:2] == [17168, 17171]  # days since 1970-01-01
    assert tx["laundering"].tolist() == [True, True, True, False]
    assert tx["amount"].tolist() == [500.0, 450.0, 300.0, 80.5]
    attribution = attribute_patterns(sample)
    # A5 has no alert_accounts row; its laundering transfer comes from a fan_out member, whose label it takes.
    assert {p: len(m) for p, m in attribution.members.items()} == {"cycle": 2, "fan_out": 2}
    assert attribution.steps["labels"] == 4 and not attribution.unattributed


@pytest.mark.parametrize(("files", "drop", "named"), [
    (SAMPLE, ("transactions.csv", "value"), "transactions.csv lacks column(s) value"),
    (SAMPLE, ("nodes.csv", "isFraud"), "nodes.csv lacks column(s) isFraud"),
    (OUTPUTS_V1, ("tx.csv", "COUNTER_PARTY_ACCOUNT_NUM"), "tx.csv lacks column(s) COUNTER_PARTY_ACCOUNT_NUM"),
    (OUTPUTS_V1, ("alerts.csv", "CHECK_NAME"), "alerts.csv lacks column(s) CHECK_NAME"),
    (OUTPUTS_V2, ("transactions.csv", "base_amt"), "transactions.csv lacks column(s) base_amt"),
    (OUTPUTS_V2, ("alert_accounts.csv", "alert_type"), "alert_accounts.csv lacks column(s) alert_type"),
])
def test_a_missing_column_names_the_file_and_the_column(
        tmp_path: Path, files: dict[str, str], drop: tuple[str, str], named: str) -> None:
    name, column = drop
    frame = pd.read_csv(pd.io.common.StringIO(files[name]))
    broken = {**files, name: frame.drop(columns=[column]).to_csv(index=False)}
    with pytest.raises(InputFileError, match=named.replace("(", r"\(").replace(")", r"\)")):
        load_amlsim(_write(tmp_path, broken, tgz=True))


def test_unusable_inputs_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match="no such file"):
        load_amlsim(tmp_path / "absent.tgz")
    (tmp_path / "junk.tgz").write_bytes(b"not an archive")
    with pytest.raises(InputFileError, match="cannot read the AMLSim data"):
        load_amlsim(tmp_path / "junk.tgz")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "people.csv").write_text("a,b\n1,2\n")
    with pytest.raises(InputFileError, match="not an AMLSim data set"):
        load_amlsim(tmp_path / "other")
    no_labels = {**OUTPUTS_V2, "accounts.csv": "acct_id,initial_deposit\nA1,1\n",
                 "transactions.csv": OUTPUTS_V2["transactions.csv"].replace(",is_sar", ",flag")}
    del no_labels["alert_accounts.csv"]
    with pytest.raises(InputFileError, match="no laundering labels: accounts.csv lacks column"):
        load_amlsim(_write(tmp_path / "x", no_labels, tgz=False))
    bad_time = {**OUTPUTS_V2, "transactions.csv": OUTPUTS_V2["transactions.csv"].replace(
        "2017-01-04T00:00:00Z", "yesterday")}
    with pytest.raises(InputFileError, match="tran_timestamp: 1 value"):
        load_amlsim(_write(tmp_path / "y", bad_time, tgz=False))


def test_pattern_names_and_metadata() -> None:
    assert {normalise_pattern(n) for n in ("fan-in", "fanin", "Fan_In", "fan-ins", "FAN IN")} == {"fan_in"}
    assert normalise_pattern("cycles") == "cycle" and normalise_pattern("scatter-gather") == "scatter_gather"
    assert normalise_pattern("nan") == "" and normalise_pattern("Odd Pattern") == "odd_pattern"
    assert patterns_in_metadata("nodes: 20,000 (945 fraud nodes)\npatterns: 200 cycles\n") == ("cycle",)
    assert patterns_in_metadata("patterns: 200 fan-in, 200 cycles") == ("fan_in", "cycle")
    assert patterns_in_metadata("patterns: 100 fan-ins and 50 cycles") == ("fan_in", "cycle")
    assert patterns_in_metadata("nodes: 3") == ()


def _sample(rows: list[tuple[int, int, float, int, bool]], laundering: list[int], **kw: object) -> AmlSimSample:
    tx = pd.DataFrame(rows, columns=["src", "dst", "amount", "time", "laundering"])
    return AmlSimSample(transfers=tx, laundering=np.array(laundering, np.int64), n_nodes=50, **kw)  # type: ignore[arg-type]


def test_shape_attribution_without_labels() -> None:
    rows = [
        (1, 2, 5.0, 1, True), (2, 3, 5.0, 4, True), (3, 1, 5.0, 2, True),  # a whole cycle
        (10, 11, 5.0, 1, True), (11, 12, 5.0, 3, True),  # a partial cycle (path)
        (20, 30, 4.0, 1, True), (21, 30, 4.0, 5, True), (22, 30, 4.0, 9, True),  # a fan-in star
        (40, 41, 3.0, 2, True),  # a lone hop: open
        (42, 20, 100.0, 5, False), (42, 21, 100.0, 6, False), (42, 1, 100.0, 7, False),  # 42 links to fan_in
    ]
    members = [1, 2, 3, 10, 11, 12, 20, 21, 22, 30, 40, 41, 42]
    got = attribute_patterns(_sample(rows, members, listed_patterns=("cycle", "fan_in")))
    assert got.members["cycle"] == {1, 2, 3, 10, 11, 12}
    assert got.members["fan_in"] == {20, 21, 22, 30, 42}
    assert got.unattributed == {40, 41}
    assert got.steps == {"labels": 0, "single pattern": 0, "shape": 10, "links": 1}
    # Only patterns the data lists are given: with fan_in alone listed, the single-pattern rule takes all.
    assert attribute_patterns(_sample(rows, members, listed_patterns=("fan_in",))).members == {
        "fan_in": frozenset(members)}


def test_one_transfer_per_hop_and_union() -> None:
    rows = [(1, 2, 5.0, 1, True), (1, 2, 5.0, 1, True), (1, 2, 5.5, 2, True), (3, 1, 200.0, 1, False)]
    merged = one_transfer_per_hop(_sample(rows, [1, 2])).transfers
    assert merged[["src", "dst", "amount", "time"]].values.tolist() == [[1, 2, 10.0, 1], [1, 2, 5.5, 2],
                                                                        [3, 1, 200.0, 1]]
    assert merged["laundering"].tolist() == [True, True, False]
    a = _sample(rows, [1, 2], listed_patterns=("cycle",))
    b = _sample(rows, [1, 2], listed_patterns=("fan_in",))
    both = union_samples([a, b], keep_labels=True)
    assert sorted(both.laundering.tolist()) == [1, 2, 51, 52]  # n_nodes 50 -> offset 50
    assert both.labels == {"cycle": frozenset({1, 2}), "fan_in": frozenset({51, 52})}
    assert both.listed_patterns == ("cycle", "fan_in")
    assert union_samples([a, b], keep_labels=False).labels == {}


@pytest.mark.parametrize("layout", ["sample", "outputs_v1", "outputs_v2"])
def test_written_layouts_read_back(tmp_path: Path, layout: str) -> None:
    rows = [(1, 2, 5.0, 1, True), (2, 3, 5.0, 4, True), (7, 1, 200.0, 2, False)]
    sample = _sample(rows, [1, 2, 3], labels={"cycle": frozenset({1, 2, 3})})
    back = load_amlsim(write_sample(sample, tmp_path / layout, layout))
    assert back.layout == layout
    assert len(back.laundering) == 3 and len(back.transfers) == 3  # outputs_v2 ids are strings, renumbered
    assert back.transfers["laundering"].tolist() == [True, True, False]
    assert attribute_patterns(back).members.keys() == {"cycle"}


def test_the_shallowest_run_is_read_whole_and_other_files_are_ignored(tmp_path: Path) -> None:
    top, deep = tmp_path / "set" / "run_b", tmp_path / "set" / "old" / "run_a"
    no_metadata = {n: t for n, t in SAMPLE.items() if n != "metadata.txt"}
    for folder, files in ((top, no_metadata), (deep, OUTPUTS_V1)):
        folder.mkdir(parents=True)
        for name, text in files.items():
            (folder / name).write_text(text)
    (deep / "metadata.txt").write_text("patterns: 3 cycles\n")  # must not be mixed into run_b
    (top / "tx_log.csv").write_text("not,read\n")
    archive = tmp_path / "set.tgz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(tmp_path / "set", arcname="set")
    for where in (tmp_path / "set", archive):
        sample = load_amlsim(where)
        assert sample.layout == "sample" and sample.n_nodes == 5
        assert sample.listed_patterns == ()


def test_benchmark_cli_reads_any_layout_and_reports_bad_input(tmp_path: Path) -> None:
    script = Path(__file__).resolve().parents[2] / "benchmarks" / "graph_amlsim.py"
    v1, v2 = _write(tmp_path / "a", OUTPUTS_V1, tgz=True), _write(tmp_path / "b", OUTPUTS_V2, tgz=False)
    run = subprocess.run([sys.executable, str(script), str(v1), str(v2), "--mixed", "labels",
                          "--one-transfer-per-hop"], capture_output=True, text=True, timeout=120, check=True)
    report = json.loads(run.stdout.strip().splitlines()[-1])
    assert report["labelled"] == 7 and report["transfers"] == 8
    assert report["attribution"]["method"] == "labels" and report["attribution"]["unattributed"] == 0
    assert {p: s["labelled"] for p, s in report["patterns"].items()} == {"cycle": 5, "fan_out": 2}
    assert set(report["per_pattern"]) == {"cycle", "fan_in"}
    broken = _write(tmp_path / "c", {**OUTPUTS_V1, "tx.csv": "ACCOUNT_ID,start\n1,2\n"}, tgz=False)
    bad = subprocess.run([sys.executable, str(script), str(broken)], capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2
    assert "tx.csv lacks column(s) COUNTER_PARTY_ACCOUNT_NUM, TXN_AMOUNT_ORIG" in bad.stderr
