"""Discriminator regularizers, selected with ``regularizer=<name>``."""

from ganbench.regularizers.base import NoRegularizer, Regularizer, input_gradient
from ganbench.regularizers.gradient_penalty import GradientPenalty, R1Penalty
from ganbench.regularizers.weight_clipping import WeightClipping

__all__ = [
    "GradientPenalty",
    "NoRegularizer",
    "R1Penalty",
    "Regularizer",
    "WeightClipping",
    "input_gradient",
]
