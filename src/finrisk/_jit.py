"""One way to compile numba kernels (graph, offline features): cached on disk where the package (or the
user's cache folder) is writable, so a process loads them in ~0.3 s instead of compiling; compiled per
process where it is not (numba refuses ``cache=True`` at import when no cache location is writable)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, cast

import numba

F = TypeVar("F", bound=Callable[..., Any])


def kernel(fn: F) -> F:
    try:
        compiled = cast(F, numba.njit(cache=True, nogil=True)(fn))
    except RuntimeError:  # pragma: no cover - read-only install without a writable cache folder
        compiled = cast(F, numba.njit(nogil=True)(fn))
    return compiled
