"""ganbench: train GANs and compare GAN objectives fairly."""

__version__ = "0.1.0"


def load_run(*args, **kwargs):
    """Open a run directory: see :func:`ganbench.runs.load_run` (imported on first use, so that
    ``import ganbench`` stays light)."""
    from ganbench.runs import load_run as _load_run

    return _load_run(*args, **kwargs)
