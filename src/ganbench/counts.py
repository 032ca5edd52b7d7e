"""The range check of ganbench's counts (root keys of ``conf/train.yaml``), written once.

Every constructor that takes one of these counts (``GANModule``, the datamodules) checks it with
:func:`count_errors`, so the message a user sees names the key and the fix whichever object is
built first.
"""

from __future__ import annotations

MEANING = {
    "iterations": "the run's length",
    "n_critic": "discriminator updates per iteration",
    "batch_size": "samples per minibatch",
    "log_every": "iterations between logged losses",
    "iterations_per_step": "1 = one iteration per Lightning step",
}


def count_errors(**counts: int | None) -> list[str]:
    """One message per count below 1 (None: not set, not checked), e.g. ``n_critic must be >= 1
    (discriminator updates per iteration), got 0; set e.g. n_critic=1``."""
    return [
        f"{key} must be >= 1 ({MEANING.get(key, 'a count')}), got {value}; set e.g. {key}=1"
        for key, value in counts.items()
        if value is not None and value < 1
    ]


def check_counts(**counts: int | None) -> None:
    """Raise :class:`ValueError` listing every count below 1 (see :func:`count_errors`)."""
    errors = count_errors(**counts)
    if errors:
        raise ValueError("; ".join(errors))


def ceil_div(total: int, per: int) -> int:
    """⌈total / per⌉: e.g. GAN iterations covering ``total`` discriminator steps at ``per`` = n_critic
    D steps per iteration (``iterations: ${ganbench_ceil_div:78125,${n_critic}}``; the resolver is
    registered by :func:`ganbench.bootstrap.setup`)."""
    total, per = int(total), int(per)
    if per < 1:
        raise ValueError(f"ganbench_ceil_div: the divisor must be >= 1 (n_critic?), got {per}")
    return -(-total // per)
