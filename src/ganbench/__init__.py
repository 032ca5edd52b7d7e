"""ganbench: train GANs and compare GAN objectives fairly."""

__version__ = "0.1.0"
