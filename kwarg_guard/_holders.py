"""Modules that hold other models, matched by class name so that nothing is imported.

Two kinds: the containers that only hand a call on (``torch.compile``'s ``OptimizedModule``, DDP,
DataParallel, DeepSpeed, FSDP, PEFT's models and tuners), which a guard with no ``target`` looks
through; and ``HeldModels``, a target a preset names by its holder (the model every PEFT tuner
adapts). A holder from a package that is not installed simply never matches. Nothing here imports
torch: the launcher reads presets that carry a ``HeldModels`` before the program imports anything.
"""

from __future__ import annotations

from typing import Any

__all__ = ["COMPILED", "CONTAINERS", "PEFT_BASE_MODEL", "HeldModels", "held_module"]

# (class name on the MRO, attribute holding what it wraps).
COMPILED = (("OptimizedModule", "_orig_mod"),)
CONTAINERS = (
    *COMPILED,
    ("DistributedDataParallel", "module"),
    ("DataParallel", "module"),
    ("DeepSpeedEngine", "module"),
    ("FullyShardedDataParallel", "module"),
    ("PeftModel", "base_model"),  # PeftModelForCausalLM & co.: their base_model is the tuner
    ("BaseTuner", "model"),  # LoraModel, IA3Model, ...: the model they adapt
)


def held_module(module: Any, holders: tuple[tuple[str, str], ...]) -> Any:
    """The module ``module`` holds, if its class (by name, on the MRO) is one of ``holders``."""
    import torch  # a module was given, so torch is loaded

    names = {cls.__name__ for cls in type(module).__mro__}
    for holder, attribute in holders:
        if holder in names:
            inner = getattr(module, attribute, None)
            if isinstance(inner, torch.nn.Module) and inner is not module:
                return inner
    return None


class HeldModels:
    """A target that names modules by what holds them: the ``attribute`` of every module whose
    class is called ``holder``. Picklable data, so presets can carry it. ``module``, where the
    holder class is defined, lets ``install()`` guard each model as its holder is built."""

    def __init__(self, holder: str, attribute: str, module: str | None = None):
        self.holder, self.attribute, self.module = holder, attribute, module

    def find(self, root: Any) -> list[Any]:
        found: list[Any] = []
        for module in root.modules():
            inner = held_module(module, ((self.holder, self.attribute),))
            if inner is not None and not any(inner is f for f in found):
                found.append(inner)
        return found

    def __eq__(self, other: object) -> bool:
        return isinstance(other, HeldModels) and vars(self) == vars(other)

    def __hash__(self) -> int:
        return hash((self.holder, self.attribute, self.module))

    def __repr__(self) -> str:
        return f"the {self.attribute!r} of every {self.holder}"


# PEFT's tuners (LoraModel, IA3Model, ... all BaseTuner) keep the model they adapt in ``.model``.
PEFT_BASE_MODEL = HeldModels("BaseTuner", "model", module="peft.tuners.tuners_utils")
