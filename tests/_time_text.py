"""Times written in a given layout, for the tests that reuse the text a client sent (validate, log)."""

from __future__ import annotations

from datetime import datetime

SENT_LAYOUTS = ["%Y-%m-%dT%H:%M:%S.%fZ", "%Y-%m-%dT%H:%M:%S.{ms}Z", "%Y-%m-%dT%H:%M:%SZ",
                "%Y-%m-%dT%H:%M:%S.%f+00:00", "%Y-%m-%dT%H:%M:%S.%f+02:00", "%Y-%m-%dT%H:%M:%S",
                "%Y-%m-%d %H:%M:%S.%fZ"]


def written(when: datetime, layout: str) -> str:
    """``when`` as a client would send it in ``layout`` (``{ms}``: milliseconds), cut to what it can hold."""
    if "{ms}" in layout:
        when = when.replace(microsecond=when.microsecond // 1000 * 1000)
        layout = layout.replace("{ms}", f"{when.microsecond // 1000:03d}")
    elif "%f" not in layout:
        when = when.replace(microsecond=0)
    return f"{when.year:04d}" + when.strftime(layout.replace("%Y", ""))  # strftime does not pad years
