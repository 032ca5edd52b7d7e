"""The Lightning pieces: the GAN module, its EMA generator and its callbacks."""

from ganbench.training.ema import EMAGenerator
from ganbench.training.module import GANModule

__all__ = ["EMAGenerator", "GANModule"]
