"""Generator and discriminator architectures, selected with ``model=<name>``."""

from ganbench.models.checks import check_regularizer_compatible
from ganbench.models.dcgan import DCGANDiscriminator, DCGANGenerator
from ganbench.models.infogan import InfoGANDiscriminator, InfoGANGenerator
from ganbench.models.mlp import MLPDiscriminator, MLPGenerator
from ganbench.models.pacgan import PacGANDiscriminator, PacGANGenerator
from ganbench.models.packing import PackedDiscriminator, build_discriminator
from ganbench.models.resnet import ResNetDiscriminator, ResNetGenerator

__all__ = [
    "DCGANDiscriminator",
    "DCGANGenerator",
    "InfoGANDiscriminator",
    "InfoGANGenerator",
    "MLPDiscriminator",
    "MLPGenerator",
    "PacGANDiscriminator",
    "PacGANGenerator",
    "PackedDiscriminator",
    "ResNetDiscriminator",
    "ResNetGenerator",
    "build_discriminator",
    "check_regularizer_compatible",
]
