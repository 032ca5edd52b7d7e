"""GAN objectives. Each class takes raw discriminator outputs and returns a scalar mean loss.

Select one from the config with ``loss=<name>``; a class of your own plugs in through
``loss._target_=my_package.MyLoss`` as long as it implements :class:`GANLoss`.
"""

from ganbench.losses.base import GANLoss
from ganbench.losses.hinge import HingeLoss
from ganbench.losses.least_squares import LeastSquaresLoss
from ganbench.losses.sigmoid import MinimaxLoss, NonSaturatingLoss
from ganbench.losses.wasserstein import WassersteinLoss

__all__ = [
    "GANLoss",
    "HingeLoss",
    "LeastSquaresLoss",
    "MinimaxLoss",
    "NonSaturatingLoss",
    "WassersteinLoss",
]
