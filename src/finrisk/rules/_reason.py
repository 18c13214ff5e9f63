"""Reason texts with ``{namespace.name}`` placeholders, filled in only when a rule hits.

Not ``str.format``: a format string can reach attributes and items (``{event.__class__}``,
``{0[key]}``) and take format specs that build huge strings (``{x:>999999999}``). Here a placeholder
is exactly ``{event.<field>}``, ``{features.<name>}``, ``{models.<name>}`` or ``{profile.<field>}``;
``{{`` and ``}}`` write a brace. Nulls show as "unknown", numbers with at most two decimals, and a
shown value is cut at 64 characters.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from finrisk.events.validate import format_timestamp
from finrisk.rules.language._names import NAMESPACES

__all__ = ["MAX_REASON", "ReasonTemplate", "TemplateError", "parse_reason"]

MAX_REASON = 500
_MAX_SHOWN = 64
_PLACEHOLDER = re.compile(r"^(event|features|models|profile)\.([A-Za-z][A-Za-z0-9_]{0,127})$")


class TemplateError(ValueError):
    """A malformed reason text; ``column`` is 1-based within the text."""

    def __init__(self, message: str, column: int) -> None:
        self.column = column
        super().__init__(message)


@dataclass(frozen=True)
class ReasonTemplate:
    """Literal pieces and (namespace, name) placeholders, in order."""

    text: str
    parts: tuple[str | tuple[str, str], ...]

    @property
    def references(self) -> frozenset[tuple[str, str]]:
        return frozenset(p for p in self.parts if isinstance(p, tuple))

    def render(self, sources: Mapping[str, Mapping[str, Any]]) -> str:
        """The text with each placeholder replaced by its value from ``sources[namespace]``."""
        if len(self.parts) == 1 and isinstance(self.parts[0], str):
            return self.parts[0]
        out = []
        for p in self.parts:
            out.append(p if isinstance(p, str) else show(sources[p[0]].get(p[1])))
        return "".join(out)


def show(value: Any) -> str:
    """A value as an investigator reads it."""
    if value is None:
        return "unknown"
    if value is True or value is False:
        return "true" if value else "false"
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            return "unknown"
        text = f"{value:.2f}".rstrip("0").rstrip(".")
        return "0" if text == "-0" else text
    if isinstance(value, int):
        text = str(value) if abs(value) < 10**18 else f"{float(value):.3g}"
    elif isinstance(value, datetime):
        text = format_timestamp(value)
    elif isinstance(value, str):
        text = value
    else:
        text = type(value).__name__
    return text if len(text) <= _MAX_SHOWN else text[: _MAX_SHOWN - 1] + "…"


def parse_reason(text: str) -> ReasonTemplate:
    """Parse a reason text; :class:`TemplateError` names the column of a bad placeholder."""
    if len(text) > MAX_REASON:
        raise TemplateError(f"a reason may be at most {MAX_REASON} characters, got {len(text)}", 1)
    parts: list[str | tuple[str, str]] = []
    literal: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch in "{}" and text[i + 1: i + 2] == ch:
            literal.append(ch)
            i += 2
            continue
        if ch == "}":
            raise TemplateError("a lone '}' (write '}}' for a brace)", i + 1)
        if ch == "{":
            end = text.find("}", i + 1)
            if end < 0:
                raise TemplateError("'{' is never closed (write '{{' for a brace)", i + 1)
            inner = text[i + 1: end]
            m = _PLACEHOLDER.match(inner)
            if not m:
                raise TemplateError(f"a placeholder is written {{namespace.name}} with a namespace among "
                                    f"{', '.join(NAMESPACES)}; got {{{inner[:40]}}}", i + 1)
            if literal:
                parts.append("".join(literal))
                literal = []
            parts.append((m.group(1), m.group(2)))
            i = end + 1
            continue
        literal.append(ch)
        i += 1
    if literal or not parts:
        parts.append("".join(literal))
    return ReasonTemplate(text, tuple(parts))
