"""GAN objectives. Each class takes raw discriminator outputs and returns a scalar mean loss.

Select one from the config with ``loss=<name>``; a class of your own plugs in through
``loss._target_=my_package.MyLoss`` as long as it implements :class:`GANLoss`. Objectives with a
pointwise optimal discriminator expose it as ``optimal_output(p_data, p_model)``; the others raise
:class:`NoPointwiseOptimumError`. docs/objectives.md has the theory of each.
"""

from ganbench.losses.base import DivergenceIdentity, GANLoss, NoPointwiseOptimumError
from ganbench.losses.fgan import FGANLoss
from ganbench.losses.hinge import HingeLoss
from ganbench.losses.least_squares import LeastSquaresLoss
from ganbench.losses.relativistic import RelativisticAverageLoss, RelativisticLoss
from ganbench.losses.sigmoid import MinimaxLoss, NonSaturatingLoss
from ganbench.losses.wasserstein import WassersteinLoss

__all__ = [
    "DivergenceIdentity",
    "FGANLoss",
    "GANLoss",
    "HingeLoss",
    "LeastSquaresLoss",
    "MinimaxLoss",
    "NoPointwiseOptimumError",
    "NonSaturatingLoss",
    "RelativisticAverageLoss",
    "RelativisticLoss",
    "WassersteinLoss",
]
