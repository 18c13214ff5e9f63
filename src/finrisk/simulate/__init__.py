"""The synthetic financial world: customers, everyday behaviour, loans, insurance and injected fraud.

Examples
--------
>>> import tempfile, pathlib
>>> with tempfile.TemporaryDirectory() as d:
...     s = simulate_world(WorldConfig(customers=50, days=2, seed=1), pathlib.Path(d))
>>> s.events_by_type["login"] > 0
True
"""

from __future__ import annotations

from finrisk.simulate.config import PATTERN_NAMES, SimulationConfigError, WorldConfig
from finrisk.simulate.world import FORMATS, SimulationSummary, simulate_world

__all__ = ["FORMATS", "PATTERN_NAMES", "SimulationConfigError", "SimulationSummary", "WorldConfig", "simulate_world"]
