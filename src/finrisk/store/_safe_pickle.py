"""Read a pandas DataFrame pickle without letting the file run code.

A pickle names the functions it calls to rebuild objects, so ``pandas.read_pickle`` on a file
someone sent us can run anything (``os.system`` included). The handbook ships its data as one
DataFrame pickle per day, so ``finrisk load`` reads pickles through this unpickler instead: it
resolves only the classes and private rebuild helpers of pandas and numpy (after pandas' own
renames for files written by older versions), the few pyarrow helpers that rebuild string
columns, harmless builtins and datetime types, and nothing that reads or writes files. Anything
else fails with :class:`InputFileError` naming the refused global; the result must be a DataFrame.
"""

from __future__ import annotations

import builtins
import codecs
import copyreg
import datetime
import functools
import importlib
import io
import pickle
from pathlib import Path
from typing import Any

import pandas as pd

from finrisk.errors import InputFileError

__all__ = ["read_dataframe_pickle"]

#: pandas' unpickler that maps renamed classes of older pandas versions (no type stubs).
pickle_compat: Any = importlib.import_module("pandas.compat.pickle_compat")

_ROOTS = ("pandas", "numpy")
_DENIED_PARTS = ("io", "testing", "_testing", "plotting", "f2py", "distutils", "ctypeslib", "_pytest", "conftest",
                 "parsers", "writers")
#: Private rebuild helpers (``_reconstruct``, ``_unpickle_block``, ``_new_Index``...) are taken only from
#: these modules: numpy's file helpers (``_savez``...) are private callables too.
_HELPER_MODULES = ("pandas._libs", "pandas.core.indexes", "pandas.core.internals", "pandas.core.arrays",
                   "pandas.core.dtypes", "pandas.core.frame", "pandas.core.series", "numpy._core.multiarray",
                   "numpy.core.multiarray", "numpy._core.numeric", "numpy.core.numeric")
#: numpy classes only from the array and dtype modules (``numpy.memmap`` is refused by name).
_NUMPY_CLASS_MODULES = ("numpy", "numpy.dtypes", "numpy._core", "numpy.core")
_DENIED_NAMES = frozenset({"memmap", "HDFStore", "ExcelWriter", "ExcelFile", "DataFrame.to_pickle", "eval", "load",
                           "loads", "read_pickle", "fromfile", "tofile", "save", "savez"})
_BUILTINS = frozenset({"slice", "complex", "set", "frozenset", "bytearray", "range", "object", "list", "dict", "tuple",
                       "int", "float", "str", "bytes", "bool"})
_OTHER = {("copyreg", "_reconstructor"): copyreg._reconstructor,  # type: ignore[attr-defined]
          ("functools", "partial"): functools.partial,
          ("_codecs", "encode"): codecs.encode}  # protocol-2 pickles encode bytes through it
#: pandas 3 keeps strings in Arrow arrays; these rebuild them (no file access among them).
_PYARROW = frozenset({"_restore_array", "type_for_alias", "py_buffer", "_reconstruct_table",
                      "_reconstruct_record_batch", "schema", "field", "list_", "struct", "timestamp", "dictionary"})


class _Refused(Exception):
    pass


class _SafeUnpickler(pickle_compat.Unpickler):  # type: ignore[misc]
    """pandas' compat unpickler, resolving only the allowed globals."""

    def find_class(self, module: str, name: str) -> Any:
        key = (module, name)
        module, name = pickle_compat._class_locations_map.get(key, key)
        module = {"__builtin__": "builtins", "copy_reg": "copyreg"}.get(module, module)  # protocol-2 names
        if module == "builtins":
            if name in _BUILTINS:
                return getattr(builtins, name)
            raise _Refused(f"{module}.{name}")
        if module == "datetime" and name in ("datetime", "date", "time", "timedelta", "timezone"):
            return getattr(datetime, name)
        if (module, name) in _OTHER:
            return _OTHER[(module, name)]
        if module == "pyarrow.lib" and name in _PYARROW:
            return super().find_class(module, name)
        parts = module.split(".")
        if parts[0] not in _ROOTS or any(p in _DENIED_PARTS for p in parts) or name in _DENIED_NAMES:
            raise _Refused(f"{module}.{name}")
        found = super().find_class(module, name)
        if isinstance(found, type) and (parts[0] == "pandas" or _within(module, _NUMPY_CLASS_MODULES)):
            return found
        if callable(found) and name.startswith("_") and _within(module, _HELPER_MODULES):
            return found
        raise _Refused(f"{module}.{name}")


def _within(module: str, roots: tuple[str, ...]) -> bool:
    return any(module == root or module.startswith(root + ".") for root in roots)


def read_dataframe_pickle(path: Path) -> pd.DataFrame:
    """The DataFrame pickled in ``path``; InputFileError when it holds anything else or asks to run code."""
    try:
        data = path.read_bytes()
        result = _SafeUnpickler(io.BytesIO(data)).load()
    except _Refused as exc:
        raise InputFileError(f"{path}: refused to read this pickle: it calls {exc}, which is not part of a "
                             "pandas DataFrame (pickles can run code; only DataFrames are read)") from None
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError, TypeError, ValueError) as exc:
        raise InputFileError(f"{path}: cannot read as a pandas DataFrame pickle ({exc})") from None
    if not isinstance(result, pd.DataFrame):
        raise InputFileError(f"{path}: expected a pickled pandas DataFrame, got {type(result).__name__}")
    return result
