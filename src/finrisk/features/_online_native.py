"""Which window kernel the online engine runs: the compiled one (``_online_kernel``, C) or Python.

The C extension is optional: it is built by ``pip install`` where a C compiler and Python's headers
are found (setup.py), and does exactly what the generated Python slide and push do, on the same
state objects (whose window bounds it keeps as machine integers: ``KeyState`` then derives from its
``State``; the counts and exact sums are its ``Exact``, 256-bit integers in one object, pickled as the
lists of ints the Python state holds), so values, state and snapshots are the same either way. ``FINRISK_PURE_PYTHON=1``
forces the Python code (the tests run both ways); a missing extension is said once in the log.
"""

from __future__ import annotations

import importlib
import logging
import os
from typing import Any

__all__ = ["KERNEL", "kernel_name", "load_kernel"]

log = logging.getLogger("finrisk.features")
#: the interface version the Python side expects of ``_online_kernel`` (its ``API``); bump both together
API = 3


def load_kernel() -> Any:
    """The compiled kernel module, or None (pure Python)."""
    if os.environ.get("FINRISK_PURE_PYTHON", "").strip() not in ("", "0"):
        return None
    try:
        kernel = importlib.import_module("finrisk.features._online_kernel")
    except ImportError as exc:
        log.warning("online features: compiled kernel not available (%s); running the pure-Python engine", exc)
        return None
    if getattr(kernel, "API", None) != API:  # built from another version of _online_kernel.c
        log.warning("online features: compiled kernel is stale (API %s, expected %s; rebuild with `pip install -e .`);"
                    " running the pure-Python engine", getattr(kernel, "API", None), API)
        return None
    return kernel


#: the compiled kernel, or None: read once at import (set FINRISK_PURE_PYTHON before importing finrisk)
KERNEL: Any = load_kernel()


def kernel_name() -> str:
    """``"c"`` when the compiled kernel runs, else ``"python"`` (benchmarks and stats report it)."""
    return "c" if KERNEL is not None else "python"
