"""Behavioural features: declared once (``spec``), computed online (``online``) and offline (``offline``)."""

from __future__ import annotations

from finrisk.features.expr import Filter, FilterSyntaxError, parse_filter
from finrisk.features.offline import build_features, compile_sql, warehouse_features
from finrisk.features.online import LatenessReport, OnlineFeatureEngine
from finrisk.features.spec import (
    Aggregation,
    DerivedFeature,
    DerivedKind,
    FeatureSet,
    WindowFeature,
    parse_duration,
    parse_features,
)

__all__ = [
    "Aggregation",
    "DerivedFeature",
    "DerivedKind",
    "FeatureSet",
    "Filter",
    "FilterSyntaxError",
    "LatenessReport",
    "OnlineFeatureEngine",
    "WindowFeature",
    "build_features",
    "compile_sql",
    "parse_duration",
    "parse_features",
    "parse_filter",
    "warehouse_features",
]
