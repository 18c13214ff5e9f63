from __future__ import annotations

import io
import re

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError
from rich.console import Console
from sklearn.metrics import roc_auc_score

from finrisk.scoring import Scorecard
from finrisk.scoring.limits import LimitPolicy, ScoreBand
from finrisk.scoring.metrics import gini, ks, psi
from finrisk.scoring.report import build_report, print_report


def test_ks_matches_a_direct_computation() -> None:
    rng = np.random.default_rng(5)
    y = (rng.random(3000) < 0.2).astype(int)
    risk = rng.normal(size=3000) + y
    order = np.argsort(-risk)
    cum_bad = np.cumsum(y[order]) / y.sum()
    cum_good = np.cumsum(1 - y[order]) / (1 - y).sum()
    assert ks(y, risk) == pytest.approx(np.max(np.abs(cum_bad - cum_good)))
    assert gini(y, risk) == pytest.approx(2 * roc_auc_score(y, risk) - 1)


def test_psi_grows_with_the_shift() -> None:
    base = [100, 200, 400, 200, 100]
    assert psi(base, base) == 0.0
    assert 0 < psi(base, [110, 210, 380, 200, 100]) < psi(base, [300, 300, 200, 100, 100])
    assert np.isfinite(psi(base, [0, 0, 0, 500, 500]))


def test_report_on_development_and_shifted_sample(mixed: tuple[pd.DataFrame, np.ndarray]) -> None:
    frame, y = mixed
    card = Scorecard(special_codes=[-999]).fit(frame, y)
    shifted = frame.assign(age=frame["age"] - 15)
    same = build_report(card, frame, y, baseline=frame)
    moved = build_report(card, shifted, y, baseline=frame)
    assert same.psi == pytest.approx(0.0, abs=1e-12) and moved.psi is not None and moved.psi > 0.05
    assert moved.csi["age"] > 0.1 and moved.csi.get("util", 0.0) == pytest.approx(0.0, abs=1e-12)
    assert same.metrics["auc"] == pytest.approx(roc_auc_score(y, card.predict_proba(frame)[:, 1]))
    for rows in same.bins.values():
        assert sum(r["count"] for r in rows) == len(frame)
    assert [n for n, _, _ in same.iv_ranking][0] == max(card.iv_, key=card.iv_.__getitem__)
    buf = io.StringIO()
    print_report(same, Console(file=buf, width=160))
    assert "IV ranking" in buf.getvalue() and "AUC" in buf.getvalue()
    page = same.to_html()
    assert page.count("<svg") == 1 + len(same.bins) and "</html>" in page
    assert re.search(r"<h2>age</h2>", page)


def test_limit_policy_decisions() -> None:
    policy = LimitPolicy()
    good = policy.decide(750, monthly_income=10_000.0, reasons=[])
    assert (good.decision, good.limit, good.price_band, good.annual_rate) == ("approve", 60_000.0, "A", 0.08)
    capped = policy.decide(750, monthly_income=1e6)
    assert capped.limit == policy.max_limit
    unknown = policy.decide(650, monthly_income=None, reasons=["R03"])
    assert unknown.decision == "refer" and unknown.reasons == ["SCORE_BAND_B", "INCOME_UNKNOWN", "R03"]
    tiny = policy.decide(650, monthly_income=100.0)
    assert tiny.decision == "decline" and "LIMIT_TOO_LOW" in tiny.reasons
    low = policy.decide(400, monthly_income=50_000.0, reasons=["R01", "R02"])
    assert low.decision == "decline" and low.limit == 0 and low.reasons == ["SCORE_BAND_D", "R01", "R02"]
    with pytest.raises(ValidationError, match="the last band must start at min_score 0"):
        LimitPolicy(bands=[ScoreBand(name="A", min_score=600, decision="approve")])
    with pytest.raises(ValidationError, match="from the highest min_score down"):
        LimitPolicy(bands=[ScoreBand(name="B", min_score=0, decision="decline"),
                           ScoreBand(name="A", min_score=600, decision="approve")])
