"""Static catalogues: merchant categories with amount distributions, occupations, income bands, names."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = [
    "CATEGORIES",
    "CAT_MU",
    "CAT_ONLINE",
    "CAT_SIGMA",
    "CAT_WEIGHT",
    "GIVEN_NAMES",
    "HOUR_WEIGHT",
    "INCOME_BANDS",
    "INCOME_MONTHLY",
    "OCCUPATIONS",
    "STREETS",
    "SURNAMES",
    "WEEKDAY_PAYMENT",
    "category_index",
]

#: (category, log-mean, log-sd, online?, share of payments); amounts in CNY are log-normal.
_CATS: tuple[tuple[str, float, float, bool, float], ...] = (
    ("grocery", 3.9, 0.7, False, 0.24),
    ("restaurant", 4.0, 0.6, False, 0.22),
    ("transport", 2.9, 0.6, False, 0.14),
    ("online_shopping", 4.8, 0.9, True, 0.17),
    ("online_game", 3.6, 1.0, True, 0.05),
    ("entertainment", 4.5, 0.7, False, 0.04),
    ("pharmacy", 4.1, 0.6, False, 0.04),
    ("utilities", 5.0, 0.5, True, 0.04),
    ("travel", 7.0, 0.8, True, 0.025),
    ("electronics", 7.3, 0.7, False, 0.02),
    ("jewelry", 8.0, 0.8, False, 0.005),
)
CATEGORIES: tuple[str, ...] = tuple(c[0] for c in _CATS)
CAT_MU: npt.NDArray[np.float64] = np.array([c[1] for c in _CATS])
CAT_SIGMA: npt.NDArray[np.float64] = np.array([c[2] for c in _CATS])
CAT_ONLINE: npt.NDArray[np.bool_] = np.array([c[3] for c in _CATS])
_cw = np.array([c[4] for c in _CATS])
CAT_WEIGHT: npt.NDArray[np.float64] = _cw / _cw.sum()


def category_index(name: str) -> int:
    return CATEGORIES.index(name)


#: Relative activity per hour of day (UTC+8 local clock): night trough, lunch and evening peaks.
_HOURS = np.array(
    [1.0, 0.6, 0.4, 0.3, 0.3, 0.5, 1.2, 2.5, 4.0, 4.5, 4.8, 5.5,
     6.5, 5.5, 4.8, 4.6, 4.8, 5.5, 6.5, 7.0, 6.8, 5.5, 3.8, 2.0]
)
HOUR_WEIGHT: npt.NDArray[np.float64] = _HOURS / _HOURS.sum()
#: Payment-rate multiplier per weekday (Monday = 0): busier Friday and weekend.
WEEKDAY_PAYMENT: npt.NDArray[np.float64] = np.array([0.92, 0.93, 0.95, 0.97, 1.08, 1.15, 1.05])

INCOME_BANDS: tuple[str, ...] = ("low", "lower_middle", "middle", "upper_middle", "high")
#: Typical monthly income (CNY) per band.
INCOME_MONTHLY: npt.NDArray[np.float64] = np.array([3500.0, 6000.0, 9500.0, 16000.0, 32000.0])

OCCUPATIONS: tuple[str, ...] = (
    "office_worker", "engineer", "teacher", "doctor", "nurse", "sales", "civil_servant", "driver",
    "factory_worker", "self_employed", "student", "retired", "delivery_rider", "designer", "accountant",
)
SURNAMES: tuple[str, ...] = (
    "Wang", "Li", "Zhang", "Liu", "Chen", "Yang", "Huang", "Zhao", "Wu", "Zhou", "Xu", "Sun", "Ma",
    "Zhu", "Hu", "Guo", "He", "Gao", "Lin", "Luo", "Zheng", "Liang", "Xie", "Song", "Tang",
)
GIVEN_NAMES: tuple[str, ...] = (
    "Wei", "Fang", "Na", "Min", "Jing", "Lei", "Jun", "Yang", "Yong", "Yan", "Jie", "Tao", "Ming",
    "Chao", "Xiu", "Xia", "Ping", "Gang", "Hui", "Hua", "Ying", "Bo", "Qiang", "Lan", "Hao", "Yu",
)
STREETS: tuple[str, ...] = (
    "Renmin", "Jiefang", "Zhongshan", "Heping", "Jianshe", "Xinhua", "Changjiang", "Huaihai",
    "Nanjing", "Yan'an", "Dongfeng", "Wenhua", "Kaiyuan", "Xingfu", "Chaoyang",
)
