"""Generator and discriminator architectures, selected with ``model=<name>``."""

from ganbench.models.checks import check_regularizer_compatible
from ganbench.models.dcgan import DCGANDiscriminator, DCGANGenerator
from ganbench.models.infogan import InfoGANDiscriminator, InfoGANGenerator
from ganbench.models.mlp import MLPDiscriminator, MLPGenerator
from ganbench.models.resnet import ResNetDiscriminator, ResNetGenerator

__all__ = [
    "DCGANDiscriminator",
    "DCGANGenerator",
    "InfoGANDiscriminator",
    "InfoGANGenerator",
    "MLPDiscriminator",
    "MLPGenerator",
    "ResNetDiscriminator",
    "ResNetGenerator",
    "check_regularizer_compatible",
]
