"""Fraud models: training sets, training and evaluation, a registry, fast serving and reasons."""

from __future__ import annotations

from finrisk.models.reasons import Reason
from finrisk.models.serving import ServedModel
from finrisk.models.train import TrainedModel, TrainParams, train_model

__all__ = ["Reason", "ServedModel", "TrainParams", "TrainedModel", "train_model"]
