"""Named bundles of guard options.

A preset is data for the one rewrite (``remap``, ``drop``, ``on_unknown``, ``target``), never
code of its own. Built-in presets live in this package; ``register_preset`` adds more.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from types import MappingProxyType

__all__ = ["Preset", "register_preset", "get_preset", "available_presets"]


@dataclass(frozen=True)
class Preset:
    """Options for ``patched`` / ``guard`` / ``kwarg_guard`` under one name.

    Attributes:
        name: what users pass as ``preset=``.
        description: one line for listings and error messages.
        remap, drop, on_unknown, target: defaults for the options of the same names; options
            given explicitly next to ``preset=`` win (``remap`` is merged key by key).
        requires: a module that must be importable for ``target`` to exist; when nothing matches
            and it is missing, the error says how to install it (``install_hint``).
    """

    name: str
    description: str
    remap: MappingProxyType = field(default_factory=lambda: MappingProxyType({}))
    drop: frozenset = frozenset()
    on_unknown: str | None = None
    target: object = None
    requires: str | None = None
    install_hint: str = ""

    def __post_init__(self):
        object.__setattr__(self, "remap", MappingProxyType(dict(self.remap)))
        object.__setattr__(self, "drop", frozenset(self.drop))

    def requirement_missing(self) -> str | None:
        """The error text when ``requires`` cannot be imported, else ``None``."""
        if self.requires is None or importlib.util.find_spec(self.requires.split(".")[0]) is not None:
            return None
        return (
            f"preset {self.name!r} targets {self.target!r}, which needs the {self.requires!r} package, "
            f"and it is not installed. {self.install_hint}".rstrip()
        )


_REGISTRY: dict = {}


def register_preset(preset: Preset, *, replace: bool = False) -> Preset:
    """Make ``preset`` available by name.

    Raises:
        ValueError: a preset of that name exists and ``replace`` is false.
    """
    if not isinstance(preset, Preset):
        raise TypeError(f"register_preset takes a kwarg_guard.presets.Preset, not {type(preset).__name__}")
    if preset.name in _REGISTRY and not replace:
        raise ValueError(f"a preset named {preset.name!r} is already registered; pass replace=True to override it")
    _REGISTRY[preset.name] = preset
    return preset


def available_presets() -> dict:
    """Name -> ``Preset`` for every registered preset."""
    return dict(_REGISTRY)


def get_preset(name: str) -> Preset:
    """The preset called ``name``.

    Raises:
        ValueError: no such preset; the message lists the known ones.
    """
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):
        known = ", ".join(sorted(_REGISTRY)) or "none"
        raise ValueError(f"unknown preset {name!r}; known presets: {known}") from None


from . import higgs_audio as _higgs_audio  # noqa: E402  (registers itself)
