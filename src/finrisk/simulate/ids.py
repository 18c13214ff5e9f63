"""Identifier strings: prefixed counters, phone numbers, GB 11643 ID numbers, IPs (vectorised)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["gb11643_check_digit", "id_numbers", "ips", "phones", "prefixed"]

_WEIGHTS = np.array([7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2], dtype=np.int64)
_CHECK = "10X98765432"


def prefixed(prefix: str, numbers: npt.ArrayLike, width: int = 9) -> pa.Array:
    """``prefix`` + zero-padded number, e.g. ``C0000042``, built in Arrow without a Python loop."""
    arr = pa.array(np.asarray(numbers, dtype=np.int64))
    digits = pc.utf8_lpad(pc.cast(arr, pa.string()), width=width, padding="0")
    return pc.binary_join_element_wise(prefix, digits, "")


def gb11643_check_digit(first17: str) -> str:
    """The GB 11643-1999 check character of the first 17 digits of an ID number.

    Examples
    --------
    >>> gb11643_check_digit("11010519491231002")
    'X'
    """
    total = sum(int(ch) * int(w) for ch, w in zip(first17, _WEIGHTS, strict=True))
    return _CHECK[total % 11]


def id_numbers(
    rng: np.random.Generator, region: npt.NDArray[np.int64], birth_year: npt.NDArray[np.int64]
) -> list[str]:
    """18-character resident ID numbers with a valid check digit."""
    n = len(region)
    month = rng.integers(1, 13, n)
    dom = rng.integers(1, 29, n)
    seq = rng.integers(0, 1000, n)
    digits = np.zeros((n, 17), dtype=np.int64)
    for i, (value, width) in enumerate(
        ((region, 6), (birth_year, 4), (month, 2), (dom, 2), (seq, 3))
    ):
        start = sum((6, 4, 2, 2, 3)[:i])
        v = np.asarray(value, dtype=np.int64).copy()
        for k in range(width - 1, -1, -1):
            digits[:, start + k] = v % 10
            v //= 10
    check = (digits * _WEIGHTS).sum(axis=1) % 11
    body = digits.astype(np.uint8) + ord("0")
    chars = np.frombuffer(_CHECK.encode(), dtype=np.uint8)[check]
    raw = np.concatenate([body, chars[:, None]], axis=1).astype(np.uint8)
    return [row.tobytes().decode() for row in raw]


def phones(rng: np.random.Generator, n: int) -> list[str]:
    """11-digit mainland mobile numbers (13x-19x prefixes)."""
    head = rng.choice(np.array([130, 131, 132, 135, 136, 137, 138, 139, 150, 151, 158, 186, 188, 199]), n)
    tail = rng.integers(0, 100_000_000, n)
    return [f"{h}{t:08d}" for h, t in zip(head.tolist(), tail.tolist(), strict=True)]


def ips(rng: np.random.Generator, n: int) -> list[str]:
    """Dotted IPv4 strings from public-looking ranges."""
    octets = rng.integers(1, 255, size=(n, 4))
    octets[:, 0] = rng.choice(np.array([27, 36, 58, 61, 101, 106, 112, 113, 115, 116, 117, 120, 183, 223]), n)
    return [f"{a}.{b}.{c}.{d}" for a, b, c, d in octets.tolist()]
