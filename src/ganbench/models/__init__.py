"""Generator and discriminator architectures, selected with ``model=<name>``."""

from ganbench.models.mlp import MLPDiscriminator, MLPGenerator

__all__ = ["MLPDiscriminator", "MLPGenerator"]
