from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedShuffleSplit
from sklearn.pipeline import Pipeline
from sklearn.utils.estimator_checks import parametrize_with_checks

from finrisk.errors import ScorecardError, ScorecardInputError
from finrisk.scoring import Scorecard, ScorecardModel


def _split(frame: pd.DataFrame, y: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    train, test = next(StratifiedShuffleSplit(1, test_size=0.3, random_state=seed).split(frame, y))
    return train, test


def test_default_fit_on_german_credit_golden(german: tuple[pd.DataFrame, np.ndarray]) -> None:
    frame, y = german
    aucs = []
    for seed in range(3):
        train, test = _split(frame, y, seed)
        card = Scorecard().fit(frame.iloc[train], y[train])
        p_bad = card.predict_proba(frame.iloc[test])[:, 1]
        aucs.append(roc_auc_score(y[test], p_bad))
        assert len(card.model_.variables) <= 10
        assert card.model_.variables[0].name == "status_of_existing_checking_account"
        scores = card.predict_score(frame.iloc[test])
        assert scores.dtype == np.int64 and scores.min() >= 350 and scores.max() <= 950
        assert roc_auc_score(y[test], -scores) > aucs[-1] - 0.01  # the rounded score ranks as well
    # measured 0.7944, 0.7841, 0.7754 on these splits; 20 splits are in benchmarks/scorecard_german.py
    assert np.mean(aucs) == pytest.approx(0.7846, abs=0.005)


def test_probability_of_bad_follows_the_larger_label(german: tuple[pd.DataFrame, np.ndarray]) -> None:
    frame, y = german
    labels = np.where(y == 1, "bad", "aaa_good")  # sorted: classes_[1] = "bad"
    card = Scorecard().fit(frame, labels)
    assert list(card.classes_) == ["aaa_good", "bad"]
    assert roc_auc_score(y, card.predict_proba(frame)[:, 1]) > 0.75
    assert set(card.predict(frame)) <= {"aaa_good", "bad"}


def test_every_fitted_variable_is_monotone_or_unimodal_as_chosen(german: tuple[pd.DataFrame, np.ndarray]) -> None:
    frame, y = german
    card = Scorecard().fit(frame, y)
    for name, b in card.binnings_.items():
        rate = np.array(b.event[: b.n_regular]) / np.array(b.total[: b.n_regular])
        steps = np.diff(rate)
        if b.trend == "descending":
            assert np.all(steps <= 1e-12), name
        else:
            assert np.all(steps >= -1e-12), name


def test_works_in_a_pipeline_and_clones(mixed: tuple[pd.DataFrame, np.ndarray]) -> None:
    frame, y = mixed
    pipe = Pipeline([("card", Scorecard(special_codes=[-999]))]).fit(frame, y)
    assert roc_auc_score(y, pipe.predict_proba(frame)[:, 1]) > 0.7
    twin = clone(Scorecard(min_iv=0.05))
    assert twin.get_params()["min_iv"] == 0.05
    with pytest.raises(NotFittedError):
        twin.predict_proba(frame)


def test_numpy_input_matches_frame_input(mixed: tuple[pd.DataFrame, np.ndarray]) -> None:
    frame, y = mixed
    numeric = frame.drop(columns="city")
    a = Scorecard().fit(numeric, y).predict_proba(numeric)
    b = Scorecard().fit(numeric.to_numpy(), y).predict_proba(numeric.to_numpy())
    np.testing.assert_allclose(a, b)


def test_polars_input_matches_pandas(mixed: tuple[pd.DataFrame, np.ndarray]) -> None:
    pl = pytest.importorskip("polars")
    frame, y = mixed
    a = Scorecard().fit(frame, y).predict_proba(frame)
    b = Scorecard().fit(pl.from_pandas(frame), y).predict_proba(pl.from_pandas(frame))
    np.testing.assert_allclose(a, b)


def test_clear_errors(mixed: tuple[pd.DataFrame, np.ndarray]) -> None:
    frame, y = mixed
    with pytest.raises(ScorecardError, match="Only binary classification is supported"):
        Scorecard().fit(frame, np.arange(len(y)) % 3)
    with pytest.raises(ScorecardError, match="y contains NaN or infinity"):
        Scorecard().fit(frame, np.where(y == 1, np.nan, 0.0))
    with pytest.raises(ValueError, match="'min_bin_size' parameter of Scorecard must be"):
        Scorecard(min_bin_size=0.9).fit(frame, y)
    card = Scorecard().fit(frame, y)
    with pytest.raises(ScorecardInputError, match="X lacks column"):
        card.predict_proba(frame.drop(columns=card.model_.feature_names[0]))


def test_json_round_trip_scores_equal(mixed: tuple[pd.DataFrame, np.ndarray]) -> None:
    frame, y = mixed
    card = Scorecard(special_codes=[-999]).fit(frame, y)
    again = ScorecardModel.from_json(card.model_.to_json())
    bins = again.bin_indices(frame)
    np.testing.assert_array_equal(again.score(bins), card.predict_score(frame))
    np.testing.assert_allclose(again.probability(bins), card.predict_proba(frame)[:, 1])


@parametrize_with_checks([Scorecard(min_bin_size=0.1)])
def test_sklearn_estimator_contract(estimator: Scorecard, check: object) -> None:
    check(estimator)  # type: ignore[operator]


def test_sql_export_in_duckdb_equals_in_process_scores(mixed: tuple[pd.DataFrame, np.ndarray]) -> None:
    import duckdb

    frame, y = mixed
    card = Scorecard(special_codes=[-999], min_iv=0.0).fit(frame, y)
    assert {"city", "bureau", "income"} <= set(card.model_.feature_names)  # text, specials and missing covered
    test = frame.copy()
    test.loc[:4, "city"] = ["never-seen", None, "east", "north", "it's"]  # unseen, missing, quoting
    test["row_id"] = np.arange(len(test))
    con = duckdb.connect()
    con.register("applications", test)
    out = con.sql(card.model_.to_sql("applications", keep=["row_id"])).df().sort_values("row_id")
    np.testing.assert_array_equal(out["score"].to_numpy(), card.predict_score(test))
    bins = card.model_.bin_indices(test)
    for j, v in enumerate(card.model_.variables):
        np.testing.assert_array_equal(out[f"points_{v.name}"].to_numpy(), card.model_.points(bins)[:, j])
    _assert_sql_subscores_and_reasons(card.model_, test, out)


def _assert_sql_subscores_and_reasons(model: ScorecardModel, test: pd.DataFrame, out: pd.DataFrame) -> None:
    """SQL's sub-score and reason columns equal the batch and the single-record scorer, row by row."""
    bins = model.bin_indices(test)
    for dim, expected in model.subscores(bins).items():
        np.testing.assert_array_equal(out[f"subscore_{dim}"].to_numpy(), expected)
    reasons = model.reasons(bins)
    sql_reasons = out[[f"reason_{m + 1}" for m in range(model.n_reasons)]].to_numpy()
    for i, record in enumerate(test.to_dict("records")):
        got = [r for r in sql_reasons[i] if isinstance(r, str)]
        assert got == reasons[i] == model.predict_one(record).reasons, i
        assert all(r is None or r != r for r in sql_reasons[i][len(got):])  # NULL after the last reason
        assert {d: int(out[f"subscore_{d}"].iloc[i]) for d in model.dimensions} == model.predict_one(record).subscores


def test_sql_subscores_round_halves_to_even_and_reasons_break_ties_in_card_order(
        mixed: tuple[pd.DataFrame, np.ndarray]) -> None:
    """Points rewritten so sub-scores land on x.5 and shortfalls tie often; one dimension is constant."""
    import duckdb

    frame, y = mixed
    fitted = Scorecard(special_codes=[-999], min_iv=0.0, n_reasons=3,
                       dimensions={"age": "identity", "city": "identity", "util": "capacity"}).fit(frame, y)
    data = fitted.model_.to_dict()
    for j, var in enumerate(data["variables"]):
        n = len(var["points"])
        var["points"] = ([[0, 8, 1, 3, 5, 7][b % 6] for b in range(n)] if j == 0 else
                         [7] * n if var["dimension"] == "capacity" else [(b * 5) % 15 for b in range(n)])
    data["variables"][0]["dimension"] = "halves"  # alone: sub-scores 12.5, 37.5, 62.5, 87.5 before rounding
    model = ScorecardModel.from_dict(data)
    assert len(model.variables) >= 4 and model.subscore_bounds["capacity"][0] == model.subscore_bounds["capacity"][1]
    test = frame.copy()
    test.loc[:3, "city"] = ["never-seen", None, "east", "north"]  # unseen, missing
    test.loc[:3, "income"] = [np.nan, np.nan, 1.0, np.nan]
    test.loc[:3, "bureau"] = [-999.0, np.nan, -999.0, 600.0]  # special, missing
    con = duckdb.connect()
    con.register("applications", test)
    out = con.sql(model.to_sql("applications")).df()
    np.testing.assert_array_equal(out["score"].to_numpy(), model.score(model.bin_indices(test)))
    assert {12, 38, 62} <= set(out["subscore_halves"]) and (out["subscore_capacity"] == 100).all()
    _assert_sql_subscores_and_reasons(model, test, out)


def test_single_record_equals_batch(mixed: tuple[pd.DataFrame, np.ndarray]) -> None:
    frame, y = mixed
    card = Scorecard(special_codes=[-999], min_iv=0.0, dimensions={"age": "identity", "city": "social"}).fit(frame, y)
    test = frame.iloc[:300].copy()
    test.loc[test.index[:3], "city"] = ["never-seen", None, "east"]
    scores = card.predict_score(test)
    probs = card.predict_proba(test)[:, 1]
    subs = card.predict_subscores(test)
    reasons = card.predict_reasons(test)
    for i, record in enumerate(test.to_dict("records")):
        one = card.predict_one(record)
        assert one.score == scores[i]
        assert one.probability == pytest.approx(probs[i], rel=1e-12)
        assert one.subscores == {d: int(subs[d].iloc[i]) for d in subs.columns}
        assert one.reasons == reasons[i]


def test_german_bins_golden(german: tuple[pd.DataFrame, np.ndarray]) -> None:
    frame, y = german
    card = Scorecard().fit(frame, y)
    assert card.iv_["status_of_existing_checking_account"] == pytest.approx(0.6613, abs=0.005)
    duration = card.binnings_["duration_in_month"]
    assert duration.splits == [9.0, 12.0, 18.0, 36.0, 48.0] and duration.trend == "ascending"
    assert all(isinstance(p, int) for v in card.model_.variables for p in v.points)


def test_points_scale_anchors_base_score_at_base_odds() -> None:
    from finrisk.scoring import PointsScale

    scale = PointsScale(pdo=50, base_score=650, base_odds=20)
    p_at_base = 1 / 21  # good:bad odds of 20
    assert scale.score_of_probability(p_at_base) == pytest.approx(650)
    assert scale.score_of_probability(1 / 41) == pytest.approx(700, abs=1.5)  # double odds = +pdo (approx.)
    assert scale.bin_points(0.8, [0.5, 0.0, -1.0]) == [-29, 0, 58]
    assert list(scale.clip(np.array([100, 500, 2000]))) == [350, 500, 950]


def test_special_missing_and_unseen_are_scored_as_documented(mixed: tuple[pd.DataFrame, np.ndarray]) -> None:
    frame, y = mixed
    card = Scorecard(special_codes=[-999], min_iv=0.0).fit(frame, y)
    model = card.model_
    bureau = next(v for v in model.variables if v.name == "bureau")
    city = next(v for v in model.variables if v.name == "city")
    assert bureau.binning.total[bureau.binning.special_index] > 0
    row = frame.iloc[[0]].assign(bureau=-999.0, city="atlantis")
    bins = model.bin_indices(row)
    j_bureau, j_city = model.feature_names.index("bureau"), model.feature_names.index("city")
    assert bins[0, j_bureau] == bureau.binning.special_index
    assert bins[0, j_city] == city.binning.unseen_index and city.points[city.binning.unseen_index] == 0
    missing = frame.iloc[[0]].assign(city=None)
    assert model.bin_indices(missing)[0, j_city] == city.binning.missing_index


def test_subscores_and_reasons(mixed: tuple[pd.DataFrame, np.ndarray]) -> None:
    frame, y = mixed
    dims = {"age": "identity", "util": "capacity", "income": "capacity", "city": "social", "bureau": "credit_history"}
    card = Scorecard(special_codes=[-999], min_iv=0.0, dimensions=dims, n_reasons=2,
                     reason_codes={"age": "AGE"}).fit(frame, y)
    subs = card.predict_subscores(frame)
    assert set(subs.columns) == {dims[n] for n in card.model_.feature_names}
    assert subs.to_numpy().min() >= 0 and subs.to_numpy().max() <= 100
    assert (subs == 100).all(axis=1).sum() > 0 or (subs < 100).any(axis=None)
    reasons = card.predict_reasons(frame)
    assert max(len(r) for r in reasons) == 2
    table = {r["code"]: r for r in card.model_.reason_code_table()}
    assert table["AGE"]["variable"] == "age" and table["AGE"]["dimension"] == "identity"
    points = card.model_.points(card.model_.bin_indices(frame))
    best = np.array([v.best_points for v in card.model_.variables])
    codes = [v.reason_code for v in card.model_.variables]
    for i in range(50):
        gaps = best - points[i]
        expected = [codes[j] for j in sorted(range(len(codes)), key=lambda j: (-gaps[j], j)) if gaps[j] > 0][:2]
        assert reasons[i] == expected
    perfect = {v.name: None for v in card.model_.variables}
    assert isinstance(card.predict_one(perfect).score, int)


def test_bad_trend_and_bad_card_files_are_named(mixed: tuple[pd.DataFrame, np.ndarray]) -> None:
    frame, y = mixed
    with pytest.raises(ScorecardError, match=r"monotonic_trend must map columns to one of auto, .*got \{'age': 'up'\}"):
        Scorecard(monotonic_trend={"age": "up"}).fit(frame, y)
    with pytest.raises(ScorecardError, match="scorecard JSON is malformed"):
        ScorecardModel.from_json("{not json")
    with pytest.raises(ScorecardError, match="'format' must be 'finrisk-scorecard'"):
        ScorecardModel.from_json('{"format": "pmml"}')
    card = Scorecard().fit(frame, y).model_.to_dict()
    del card["variables"][0]["points"]
    with pytest.raises(ScorecardError, match="malformed scorecard: KeyError: 'points'"):
        ScorecardModel.from_dict(card)


def test_weights_multiply_a_variables_coefficient_before_scaling(mixed: tuple[pd.DataFrame, np.ndarray]) -> None:
    frame, y = mixed
    plain = Scorecard(special_codes=[-999], min_iv=0.0).fit(frame, y).model_
    weighted = Scorecard(special_codes=[-999], min_iv=0.0, weights={"age": 2.0, "util": 0.5}).fit(frame, y).model_
    assert weighted.feature_names == plain.feature_names  # weights act after selection
    factor = plain.scale.factor
    for p, w in zip(plain.variables, weighted.variables, strict=True):
        expected = {"age": 2.0, "util": 0.5}.get(p.name, 1.0)
        assert w.weight == expected and w.coef == pytest.approx(p.coef * expected, rel=1e-12)
        assert w.points == [int(np.rint(-factor * w.coef * woe)) for woe in p.binning.woe]
    again = ScorecardModel.from_json(weighted.to_json())
    assert [v.weight for v in again.variables] == [v.weight for v in weighted.variables]
    bins = weighted.bin_indices(frame)
    np.testing.assert_array_equal(again.score(again.bin_indices(frame)), weighted.score(bins))
    for bad in (0, 10.5, -1.0, True, "2", float("nan")):
        with pytest.raises(ScorecardError, match=r"weights: variable 'age': expected a number in \(0, 10\]"):
            Scorecard(weights={"age": bad}).fit(frame, y)
    with pytest.raises(ScorecardError, match="weights: 'salary' not among the columns of X"):
        Scorecard(weights={"salary": 2.0}).fit(frame, y)
