"""When Lightning's backward and optimiser-step wrappers do nothing but call torch, call torch.

With manual optimisation, ``LightningModule.manual_backward(loss)`` runs
``strategy.backward`` → ``precision.pre_backward`` (the ``on_before_backward`` hooks of every
callback and of the module) → ``module.backward`` (``loss.backward()``) → ``precision.post_backward``
(the ``on_after_backward`` hooks); and ``LightningOptimizer.step()`` runs the manual loop's
``_on_before_step`` (step counters, profiler) → ``strategy.optimizer_step`` →
``precision.optimizer_step`` → ``optimizer.step(closure)`` whose closure calls the
``on_before_optimizer_step`` hooks → ``_on_after_step`` (the counter that advances
``global_step``). On a toy GAN iteration of ~3 ms these layers cost ~5 %.

When nothing in them can act (:func:`plain_backward`, :func:`plain_optimizer_step`), the module
calls the same operations itself: ``loss.backward()``; and ``_on_before_step``,
``optimizer.step(closure)`` with a closure that runs its own ``on_before_optimizer_step`` (as
Lightning's closure does), ``_on_after_step``, in Lightning's order. The
arithmetic is the same, so results are bit-identical; the step counters advance as before. Any
other strategy (DDP: ``prepare_for_backward``), precision (16-mixed: the GradScaler; double,
half, ...), a module that overrides ``backward`` or a hook, or a callback that implements one of
the hooks, keeps Lightning's path.
"""

from __future__ import annotations

from typing import Any

from lightning.pytorch import Callback, LightningModule
from lightning.pytorch.plugins.precision import MixedPrecision, Precision
from lightning.pytorch.strategies import SingleDeviceStrategy

__all__ = ["overrides", "plain_backward", "plain_optimizer_step"]

_BACKWARD_HOOKS = ("on_before_backward", "on_after_backward")


def overrides(obj: Any, name: str, base: type) -> bool:
    """Whether ``obj.name`` is something other than ``base.name`` (a subclass method, or an
    attribute set on the instance, as :class:`~ganbench.training.callbacks.IterationEvents` does)."""
    attr = getattr(obj, name, None)
    return getattr(attr, "__func__", attr) is not getattr(base, name)


def _plain_strategy_and_precision(trainer: Any) -> bool:
    """One device, and a precision plugin whose backward and step add nothing to torch's
    (``32-true``; ``bf16-mixed``, which autocasts the forward only and has no GradScaler)."""
    if type(trainer.strategy) is not SingleDeviceStrategy:
        return False
    precision = trainer.precision_plugin
    return type(precision) is Precision or (type(precision) is MixedPrecision and precision.scaler is None)


def plain_backward(trainer: Any, module: LightningModule) -> bool:
    """Whether ``module.manual_backward(loss)`` amounts to ``loss.backward()``: single device, plain
    precision, no ``backward``/``on_before_backward``/``on_after_backward`` override on the module
    and no callback implementing either hook."""
    if module.fabric is not None or not _plain_strategy_and_precision(trainer):
        return False
    if any(overrides(module, name, LightningModule) for name in ("backward", *_BACKWARD_HOOKS)):
        return False
    return not any(overrides(cb, name, Callback) for cb in trainer.callbacks for name in _BACKWARD_HOOKS)


def plain_optimizer_step(trainer: Any, module: LightningModule, own_hook: Any) -> bool:
    """Whether ``LightningOptimizer.step()`` amounts to the manual loop's counters around
    ``own_hook(optimizer)`` and ``optimizer.step()``: single device, plain precision, the module's
    ``on_before_optimizer_step`` is ``own_hook`` (the class's own, which logs nothing), no gradient
    clipping by the Trainer and no callback implementing ``on_before_optimizer_step``."""
    if module.fabric is not None or not _plain_strategy_and_precision(trainer):
        return False
    hook = getattr(module, "on_before_optimizer_step", None)
    if getattr(hook, "__func__", hook) is not own_hook or overrides(
        module, "configure_gradient_clipping", LightningModule
    ):
        return False
    if trainer.gradient_clip_val:
        return False
    return not any(overrides(cb, "on_before_optimizer_step", Callback) for cb in trainer.callbacks)
