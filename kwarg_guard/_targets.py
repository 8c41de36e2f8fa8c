"""Which modules a guard patches: where the keyword fails, or every module that ``target`` names.

With no ``target``, a guard lands on the model that actually runs the call, found by unwrapping
the containers that only hand a call on: ``torch.compile``'s ``OptimizedModule``, DDP,
``DataParallel``, DeepSpeed's engine, FSDP, and PEFT's models and tuners (the keyword PEFT injects
fails in the model its tuner calls, not in the PEFT wrapper). With a ``target``, every module
inside the model that matches is patched; wrappers need no special code to be searched, since
all of these register the model they wrap as a submodule.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from ._guarded import class_forward
from ._holders import CONTAINERS, HeldModels, held_module
from ._signature import accepted_keywords

__all__ = [
    "check_module",
    "describe_target",
    "find_targets",
    "passes_everything_on",
    "unwrap_containers",
    "unwrap_model",
]


def unwrap_model(model: torch.nn.Module) -> torch.nn.Module:
    """The model that actually runs a call: ``model`` without the containers that only hand a call
    on (``torch.compile``, DDP, DataParallel, DeepSpeed, FSDP, PEFT's models and tuners). It is
    where a guard with no ``target`` lands.

    >>> import torch
    >>> from kwarg_guard import unwrap_model
    >>> net = torch.nn.Linear(2, 2)
    >>> unwrap_model(torch.nn.DataParallel(net)) is net
    True
    """
    return unwrap_containers(model)


def unwrap_containers(module: torch.nn.Module, containers: tuple[tuple[str, str], ...] = CONTAINERS) -> torch.nn.Module:
    """The module inside every container ``module`` is wrapped in (``module`` itself if none)."""
    while True:
        inner = held_module(module, containers)
        if inner is None:
            return module
        module = inner


# What each door says to do instead when it is given something other than a module.
_INSTEAD = {
    # A function or class has no call to dry-run: not the other doors' @kwarg_guard hint.
    "explain": "pass the model and the arguments of the call to examine: explain(model, *args, **inputs)",
    "unguard": "unguard takes a model guarded with guard(...) or a class guarded with kwarg_guard(SomeClass)",
}
_GUARD_SOMETHING_ELSE = "to guard a function or a class use @kwarg_guard or kwarg_guard(SomeClass)"


def check_module(obj: object, door: str) -> torch.nn.Module:
    if not isinstance(obj, torch.nn.Module):
        raise TypeError(
            f"{door}() takes a torch.nn.Module, got {type(obj).__name__}; {_INSTEAD.get(door, _GUARD_SOMETHING_ELSE)}"
        )
    return obj


def find_targets(
    root: torch.nn.Module, target: Any, door: str = "guard", changes_keywords: bool = True
) -> list[torch.nn.Module]:
    """The modules to patch, outermost first.

    Args:
        changes_keywords: the rules remap or drop something. Without it and without ``target``, a
            guard on a pure pass-through wrapper (``forward(self, *args, **kwargs)`` and nothing
            else) would change nothing: refused, naming the modules inside it that could fail. A
            forward that names parameters beside its ``**kwargs`` (a causal LM whose
            ``**kwargs`` feed the loss) is a model, not a pass-through: it is guarded.

    Raises:
        TypeError: ``target`` is not a class, tuple of classes, string or predicate.
        LookupError: nothing inside ``root`` matches ``target``.
        ValueError: no ``target``, and the model's forward passes every keyword on.
    """
    if target is None:
        model_inside = unwrap_containers(root)
        if not changes_keywords and passes_everything_on(model_inside):
            candidates = _named_forwards_inside(model_inside)
            if candidates:
                raise ValueError(
                    f"{door}({type(root).__name__}) would change nothing: {type(model_inside).__name__}.forward takes "
                    f"**kwargs and hands every keyword on. Guard the module whose forward fails instead: "
                    f"target={candidates[0]!r} (modules inside it: {', '.join(candidates)})"
                )
        return [model_inside]
    if isinstance(target, HeldModels):
        found = target.find(root)
    else:
        matches = _matcher(target)
        found = [module for module in root.modules() if matches(module)]
    if not found:
        raise LookupError(
            f"target {describe_target(target)} matched no module inside {type(root).__name__}; "
            f"its module classes are: {', '.join(sorted({type(m).__name__ for m in root.modules()})[:20])}"
        )
    return found


def passes_everything_on(module: torch.nn.Module) -> bool:
    accepted = accepted_keywords(class_forward(module))
    return accepted.takes_anything and not accepted.named


def _named_forwards_inside(wrapper: torch.nn.Module) -> list[str]:
    """Class names of up to three modules inside ``wrapper`` whose forward names its parameters."""
    names: list[str] = []
    for module in wrapper.modules():
        name = type(module).__name__
        if module is wrapper or name in names:
            continue
        try:
            if not accepted_keywords(class_forward(module)).takes_anything:
                names.append(name)
        except TypeError:
            continue
        if len(names) == 3:
            break
    return names


def describe_target(target: Any) -> str:
    if isinstance(target, HeldModels):
        return repr(target)
    if isinstance(target, type):
        return target.__qualname__
    if isinstance(target, tuple):
        return "(" + ", ".join(describe_target(t) for t in target) + ")"
    if isinstance(target, str):
        return repr(target)
    return getattr(target, "__qualname__", repr(target))


def _matcher(target: Any) -> Callable[[torch.nn.Module], bool]:
    if isinstance(target, type) or (isinstance(target, tuple) and all(isinstance(t, type) for t in target)):
        return lambda module: isinstance(module, target)
    if isinstance(target, str):
        return lambda module: any(_names_class(target, cls) for cls in type(module).__mro__)
    if callable(target):
        return lambda module: bool(target(module))
    raise TypeError(
        "target takes a class, a tuple of classes, a qualified class name "
        f"('package.module.Class' or 'Class') or a predicate on modules, not {target!r}"
    )


def _names_class(name: str, cls: type) -> bool:
    # A string target names a class without importing its package: "HiggsAudioModel" or
    # "boson_multimodal.model.higgs_audio.modeling_higgs_audio.HiggsAudioModel".
    return name == cls.__qualname__ or name == f"{cls.__module__}.{cls.__qualname__}"
