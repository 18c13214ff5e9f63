"""The engine's cached timestamp text is exactly :func:`format_us`, second after second and across days."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from finrisk.decisions.engine import _TimestampText
from finrisk.events.validate import format_us


@given(st.lists(st.integers(min_value=-62_135_596_800_000_000, max_value=253_402_300_799_999_999), max_size=20),
       st.integers(min_value=0, max_value=1_765_000_000_000_000))
def test_the_cached_text_is_format_us(scattered: list[int], start: int) -> None:
    text = _TimestampText()
    nearby = [start + step * 250_000 for step in range(12)]  # several calls per second, then the next second
    for us in [*nearby, *scattered, *nearby]:
        assert text(us) == format_us(us)
