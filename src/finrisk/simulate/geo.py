"""Cities (real coordinates) and great-circle distances."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["CITIES", "CITY_LAT", "CITY_LON", "CITY_NAMES", "CITY_WEIGHT", "haversine_km"]

#: (name, lat, lon, relative population weight)
CITIES: tuple[tuple[str, float, float, float], ...] = (
    ("Shanghai", 31.2304, 121.4737, 10.0),
    ("Beijing", 39.9042, 116.4074, 9.0),
    ("Shenzhen", 22.5431, 114.0579, 7.0),
    ("Guangzhou", 23.1291, 113.2644, 7.0),
    ("Chengdu", 30.5728, 104.0668, 6.0),
    ("Chongqing", 29.5630, 106.5516, 6.0),
    ("Hangzhou", 30.2741, 120.1551, 5.0),
    ("Wuhan", 30.5928, 114.3055, 5.0),
    ("Xi'an", 34.3416, 108.9398, 4.0),
    ("Tianjin", 39.3434, 117.3616, 4.0),
    ("Nanjing", 32.0603, 118.7969, 4.0),
    ("Suzhou", 31.2990, 120.5853, 4.0),
    ("Zhengzhou", 34.7466, 113.6254, 4.0),
    ("Changsha", 28.2282, 112.9388, 3.0),
    ("Shenyang", 41.8057, 123.4315, 3.0),
    ("Qingdao", 36.0671, 120.3826, 3.0),
    ("Dongguan", 23.0207, 113.7518, 3.0),
    ("Kunming", 25.0389, 102.7183, 2.5),
    ("Dalian", 38.9140, 121.6147, 2.5),
    ("Xiamen", 24.4798, 118.0894, 2.0),
    ("Hefei", 31.8206, 117.2272, 2.5),
    ("Fuzhou", 26.0745, 119.2965, 2.0),
    ("Harbin", 45.8038, 126.5349, 2.5),
    ("Jinan", 36.6512, 117.1201, 2.5),
    ("Nanning", 22.8170, 108.3665, 2.0),
    ("Urumqi", 43.8256, 87.6168, 1.5),
    ("Lanzhou", 36.0611, 103.8343, 1.5),
    ("Guiyang", 26.6470, 106.6302, 1.5),
    ("Taiyuan", 37.8706, 112.5489, 1.5),
    ("Haikou", 20.0440, 110.1999, 1.0),
)

CITY_NAMES: tuple[str, ...] = tuple(c[0] for c in CITIES)
CITY_LAT: npt.NDArray[np.float64] = np.array([c[1] for c in CITIES])
CITY_LON: npt.NDArray[np.float64] = np.array([c[2] for c in CITIES])
_w = np.array([c[3] for c in CITIES])
CITY_WEIGHT: npt.NDArray[np.float64] = _w / _w.sum()


def haversine_km(
    lat1: npt.ArrayLike, lon1: npt.ArrayLike, lat2: npt.ArrayLike, lon2: npt.ArrayLike
) -> npt.NDArray[np.float64]:
    """Great-circle distance in km (vectorised).

    Examples
    --------
    >>> round(float(haversine_km(31.2304, 121.4737, 39.9042, 116.4074)))
    1067
    """
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dphi = p2 - p1
    dlmb = np.radians(np.asarray(lon2) - np.asarray(lon1))
    a = np.sin(dphi / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dlmb / 2) ** 2
    return np.asarray(6371.0 * 2 * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0))), dtype=np.float64)
