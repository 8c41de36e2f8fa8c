"""Which modules a guard patches: the module itself, or every module inside it that matches.

Wrappers need no special code to be searched: PEFT models, ``DistributedDataParallel``,
``DataParallel`` and ``torch.compile``'s ``OptimizedModule`` all register the model they wrap as
a submodule, so ``root.modules()`` reaches it.
"""

from __future__ import annotations

import torch

__all__ = ["find_targets", "describe_target", "check_module", "PEFT_BASE_MODEL", "ModelsWrappedBy"]


class ModelsWrappedBy:
    """A target that names modules by what holds them: the ``attribute`` of every module whose
    class is called ``holder`` (matched on the MRO by name, nothing imported). Picklable data,
    so presets can carry it."""

    def __init__(self, holder: str, attribute: str):
        self.holder, self.attribute = holder, attribute

    def find(self, root) -> list:
        found = []
        for module in root.modules():
            if any(cls.__name__ == self.holder for cls in type(module).__mro__):
                inner = getattr(module, self.attribute, None)
                if isinstance(inner, torch.nn.Module) and inner not in found:
                    found.append(inner)
        return found

    def __repr__(self):
        return f"the {self.attribute!r} of every {self.holder}"


# PEFT's tuners (LoraModel, IA3Model, ... all BaseTuner) keep the model they adapt in ``.model``.
PEFT_BASE_MODEL = ModelsWrappedBy("BaseTuner", "model")

def check_module(obj, door: str) -> torch.nn.Module:
    if not isinstance(obj, torch.nn.Module):
        raise TypeError(
            f"{door}() takes a torch.nn.Module, got {type(obj).__name__}; "
            "to guard a function or a class use @kwarg_guard or kwarg_guard(SomeClass)"
        )
    return obj


def _unwrap_compiled(module: torch.nn.Module) -> torch.nn.Module:
    optimized = getattr(getattr(getattr(torch, "_dynamo", None), "eval_frame", None), "OptimizedModule", ())
    while optimized and isinstance(module, optimized):
        module = module._orig_mod
    return module


def _unwrap_containers(module: torch.nn.Module) -> torch.nn.Module:
    # Containers whose own forward only hands the call on: "the module itself" is what they hold.
    containers = (torch.nn.parallel.DistributedDataParallel, torch.nn.DataParallel)
    optimized = getattr(getattr(torch, "_dynamo", None), "eval_frame", None)
    optimized = getattr(optimized, "OptimizedModule", ())
    while True:
        if isinstance(module, containers):
            module = module.module
        elif optimized and isinstance(module, optimized):
            module = module._orig_mod
        else:
            return module


def find_targets(root: torch.nn.Module, target) -> list:
    """The modules to patch, outermost first.

    Raises:
        TypeError: ``target`` is not a class, tuple of classes, string or predicate.
        LookupError: nothing inside ``root`` matches ``target``.
    """
    if target is None:
        return [_unwrap_containers(root)]
    if isinstance(target, ModelsWrappedBy):
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


def describe_target(target) -> str:
    if isinstance(target, ModelsWrappedBy):
        return repr(target)
    if isinstance(target, type):
        return target.__qualname__
    if isinstance(target, tuple):
        return "(" + ", ".join(describe_target(t) for t in target) + ")"
    if isinstance(target, str):
        return repr(target)
    return getattr(target, "__qualname__", repr(target))


def _matcher(target):
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
