"""Fixtures and test settings shared by every test folder."""

from __future__ import annotations

import os

from hypothesis import settings

# CI must be repeatable: property tests draw the same examples on every run ("ci", the default).
# Explore new examples locally with FINRISK_HYPOTHESIS=explore.
settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
settings.register_profile("explore", deadline=None, print_blob=True)
settings.load_profile("explore" if os.environ.get("FINRISK_HYPOTHESIS") == "explore" else "ci")
