"""Every error class states its own HTTP status and appears in the tree drawn in errors.py."""

from __future__ import annotations

import finrisk.errors as errors


def test_every_error_is_in_the_docstring_tree_with_its_status() -> None:
    doc = errors.__doc__ or ""
    for name in errors.__all__:
        cls = getattr(errors, name)
        if not (isinstance(cls, type) and issubclass(cls, errors.FinriskError)):
            continue
        line = next((ln for ln in doc.splitlines() if f" {name} " in ln), None)
        assert line is not None, f"{name} is missing from the tree in errors.py"
        status = cls.http_status
        assert str(status) in line.split(name, 1)[1], f"{name}: tree says {line!r}, class says {status}"
        assert "http_status" in vars(cls) or cls is errors.FinriskError, f"{name} inherits its status silently"
