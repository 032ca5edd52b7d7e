"""Discriminator regularizers, selected with ``regularizer=<name>``."""

from ganbench.regularizers.base import NoRegularizer, Regularizer, input_gradient
from ganbench.regularizers.gradient_penalty import (
    DRAGANPenalty,
    GradientPenalty,
    OneSidedGradientPenalty,
    R1Penalty,
    R2Penalty,
    SquaredGradientPenalty,
)
from ganbench.regularizers.weight_clipping import WeightClipping

__all__ = [
    "DRAGANPenalty",
    "GradientPenalty",
    "NoRegularizer",
    "OneSidedGradientPenalty",
    "R1Penalty",
    "R2Penalty",
    "SquaredGradientPenalty",
    "Regularizer",
    "WeightClipping",
    "input_gradient",
]
