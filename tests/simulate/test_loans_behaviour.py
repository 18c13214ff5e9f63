"""Credit signals follow the documented default model; everyday behaviour looks like money."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow.parquet as pq
import pytest

from finrisk.simulate import SimulationSummary, WorldConfig, simulate_world
from finrisk.simulate.loans import COEFFICIENTS, INTERCEPT, default_probability, loan_features


def read(out_dir: Path, event_type: str) -> pd.DataFrame:
    return pq.read_table(out_dir / "events" / event_type).to_pandas()

SIGNALS = ["phone_tenure_months", "monthly_local_spend", "monthly_game_spend", "finance_media_days_30d",
           "home_distance_km", "past_overdue_count"]
#: PRODUCT.md section C: the sign of each signal's effect on default.
DOCUMENTED_SIGN = {"phone_tenure_years": -1, "log_local_spend": -1, "log_game_spend": 1,
                   "finance_media_days_30d": -1, "log_home_distance": 1, "past_overdue_count": 1}


def _newton_logit(x: npt.NDArray[np.float64], y: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Plain Newton-Raphson logistic regression (intercept first)."""
    X = np.column_stack([np.ones(len(x)), x])
    beta = np.zeros(X.shape[1])
    for _ in range(30):
        p = 1 / (1 + np.exp(-X @ beta))
        hess = X.T @ (X * (p * (1 - p))[:, None])
        step = np.linalg.solve(hess, X.T @ (y - p))
        beta += step
        if np.abs(step).max() < 1e-8:
            break
    return beta


@pytest.fixture(scope="module")
def loans(tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    config = WorldConfig(customers=3000, days=6, seed=5, fraud_share=0.0, loan_rate=0.25, policy_rate=0.0,
                         activity=0.05)
    s = simulate_world(config, tmp_path_factory.mktemp("loans"))
    return read(s.out_dir, "loan_application")


def test_documented_coefficients_have_documented_signs() -> None:
    assert {k: int(np.sign(v)) for k, v in COEFFICIENTS.items()} == DOCUMENTED_SIGN
    assert INTERCEPT < 0


def test_default_rate_is_realistic(loans: pd.DataFrame) -> None:
    assert len(loans) > 3000
    assert 0.04 <= loans.label_default.mean() <= 0.12


def test_fitted_signs_match_product_brief(loans: pd.DataFrame) -> None:
    feats = loan_features(**{k: loans[k].to_numpy() for k in SIGNALS})
    x = np.column_stack([feats[k] for k in COEFFICIENTS])
    beta = _newton_logit(x, loans.label_default.to_numpy(dtype=float))
    fitted = dict(zip(COEFFICIENTS, beta[1:], strict=True))
    for name, sign in DOCUMENTED_SIGN.items():
        assert np.sign(fitted[name]) == sign, (name, fitted[name])


def test_default_rate_by_quantile(loans: pd.DataFrame) -> None:
    low_tenure = loans.phone_tenure_months <= loans.phone_tenure_months.quantile(0.25)
    high_tenure = loans.phone_tenure_months >= loans.phone_tenure_months.quantile(0.75)
    assert loans[low_tenure].label_default.mean() > loans[high_tenure].label_default.mean()
    gamers = loans.monthly_game_spend > 0
    assert loans[gamers].label_default.mean() > loans[~gamers].label_default.mean()
    far = loans.home_distance_km > 100
    assert loans[far].label_default.mean() > loans[~far].label_default.mean()


def test_default_probability_matches_formula() -> None:
    f = loan_features(phone_tenure_months=[24], monthly_local_spend=[1000], monthly_game_spend=[100],
                      finance_media_days_30d=[10], home_distance_km=[0], past_overdue_count=[1])
    z = INTERCEPT + COEFFICIENTS["phone_tenure_years"] * 2 + (COEFFICIENTS["log_local_spend"]
        + COEFFICIENTS["log_game_spend"]) * np.log(2) + COEFFICIENTS["finance_media_days_30d"] * 10 \
        + COEFFICIENTS["past_overdue_count"]
    assert default_probability(f)[0] == pytest.approx(1 / (1 + np.exp(-z)))


def test_repayments_follow_defaults(tmp_path_factory: pytest.TempPathFactory) -> None:
    s = simulate_world(WorldConfig(customers=400, days=45, seed=2, loan_rate=0.02, activity=0.05),
                       tmp_path_factory.mktemp("repay"))
    rep = read(s.out_dir, "repayment")
    back = pd.read_parquet(s.out_dir / "reference" / "back_book_loans.parquet")
    assert back.application_time.max() < pd.Timestamp("2026-01-01", tz="UTC")
    loans = pd.concat([read(s.out_dir, "loan_application"), back]).set_index("loan_id")
    assert loans.index.is_unique
    rep["default"] = loans.loc[rep.loan_id, "label_default"].to_numpy()
    bad, good = rep[rep.default], rep[~rep.default]
    assert len(bad) and len(good)
    assert (bad.days_overdue > 0).all() and (bad.amount_paid < bad.amount_due).all()
    assert (good.amount_paid == good.amount_due).all() and (good.days_overdue == 0).mean() > 0.85
    assert (rep.event_time >= rep.due_time - pd.Timedelta(days=1)).all()
    assert (rep.due_time >= pd.Timestamp("2026-01-01", tz="UTC")).all()
    assert rep.loan_id.isin(back.loan_id).any() and not rep.loan_id.isin(back.loan_id).all()
    assert (rep.due_time < pd.Timestamp("2026-01-01", tz="UTC") + pd.Timedelta(days=45)).all()


def test_payment_amounts_and_hours(tx: pd.DataFrame) -> None:
    pay = tx[(tx.txn_type == "payment") & ~tx.label_is_fraud]
    med = pay.groupby("merchant_category").amount.median()
    assert med["jewelry"] > med["electronics"] > med["online_shopping"] > med["grocery"] > med["transport"]
    local_hour = (pay.event_time.dt.hour + 8) % 24
    night = local_hour.isin([2, 3, 4]).mean()
    evening = local_hour.isin([18, 19, 20]).mean()
    assert evening > 5 * night
    assert (pay.amount > 0).all()


def test_salaries_and_transfers(world: SimulationSummary, tx: pd.DataFrame) -> None:
    sal = tx[tx.txn_type == "salary"]
    assert len(sal) > 0
    assert sal.customer_id.isna().all() and sal.company_id.notna().all()
    assert sal.account_id.str.startswith("AC").all() and sal.counterparty_account.notna().all()
    customers = pd.read_parquet(world.out_dir / "reference" / "customers.parquet").set_index("customer_id")
    transfers = tx[(tx.txn_type == "transfer") & ~tx.label_is_fraud]
    same_circle = (customers.loc[transfers.customer_id, "circle_id"].to_numpy()
                   == customers.loc[transfers.counterparty_customer_id, "circle_id"].to_numpy())
    assert same_circle.all()
    assert (transfers.customer_id != transfers.counterparty_customer_id).all()


def test_logins_mostly_succeed_from_usual_devices(world: SimulationSummary) -> None:
    logins = read(world.out_dir, "login")
    legit = logins[~logins.label_is_fraud]
    assert 0.9 < legit.success.mean() < 0.99
    assert legit.groupby("customer_id").device_id.nunique().max() <= 3


def test_registrations_only_for_new_customers(world: SimulationSummary) -> None:
    regs = read(world.out_dir, "registration")
    customers = pd.read_parquet(world.out_dir / "reference" / "customers.parquet")
    joined = set(customers[customers.join_day >= 0].customer_id)
    assert set(regs.customer_id) == joined
