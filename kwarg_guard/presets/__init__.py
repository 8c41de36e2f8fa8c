"""Named bundles of guard options, open to other packages.

A preset is data for the one rewrite (``remap``, ``drop``, ``on_unknown``, ``target``), never
code of its own. Built-in presets live in this package; ``register_preset`` adds more at run
time, and installed distributions contribute presets through the entry-point group
``kwarg_guard.presets``::

    # pyproject.toml of a third-party package
    [project.entry-points."kwarg_guard.presets"]
    my_model = "my_package.guard_presets:MY_MODEL"   # a Preset, a list of them, or a function returning either

Entry points are read on the first lookup. One that fails to load or gives something that is
not a ``Preset`` is skipped and reported (``preset_problems()`` and a warning on the
``kwarg_guard`` logger) with its distribution's name; the other presets keep working.
"""

from __future__ import annotations

import difflib
import importlib.metadata
import importlib.util
import logging
import threading
import warnings
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .._rules import OnUnknown, Rules

__all__ = [
    "ENTRY_POINT_GROUP",
    "Preset",
    "available_presets",
    "get_preset",
    "installable",
    "preset_problems",
    "register_preset",
    "reload_entry_points",
]

ENTRY_POINT_GROUP = "kwarg_guard.presets"
_LOGGER = logging.getLogger("kwarg_guard")


@dataclass(frozen=True)
class Preset:
    """Options for ``patched`` / ``guard`` / ``kwarg_guard`` under one name.

    Attributes:
        name: what users pass as ``preset=``.
        description: one line for listings and error messages.
        remap: the default ``remap=``; a ``remap`` given next to ``preset=`` is merged into it
            key by key, its own keys winning.
        drop: keywords always dropped; a ``drop`` given next to ``preset=`` adds to them.
        on_unknown: the default ``on_unknown=``; one given next to ``preset=`` wins.
        target: the default ``target=``; one given next to ``preset=`` wins.
        ignored_without: ``{keyword: attribute}``: a parameter the model ignores when the guarded
            module's attribute is ``None`` (``{"labels": "text_lm_head"}``); reported as ignored.
            (Named ``unused_unless`` before 0.2: that keyword still works, with a
            ``DeprecationWarning``, and reads back the same mapping.)
        renames: apply the known keyword renames in whichever direction each forward needs (see
            ``guard``).
        requires: a module that must be importable for ``target`` to exist; when nothing matches
            and it is missing, the error says how to install it (``install_hint``).
        alternatives: presets for the same model in other environments; where ``requires`` is
            missing, the first of them whose own requirement is installed is named instead of
            ``install_hint`` (``higgs_audio`` on transformers 5 names ``higgs_audio_v2``).

    >>> from kwarg_guard import Preset, kwarg_guard, register_preset
    >>> _ = register_preset(
    ...     Preset(name="labels_to_targets", description="labels -> targets", remap={"labels": "targets"}),
    ...     replace=True,
    ... )
    >>> @kwarg_guard(preset="labels_to_targets")
    ... def forward(x, targets=None):
    ...     return targets
    >>> forward(1, labels=4)
    4
    """

    name: str
    description: str
    remap: Mapping[str, str] = field(default_factory=dict)  # frozen in __post_init__
    drop: Collection[str] = frozenset()
    on_unknown: OnUnknown | None = None
    target: Any = None  # what ``target=`` takes
    requires: str | None = None
    install_hint: str = ""
    ignored_without: Mapping[str, str] = field(default_factory=dict)  # frozen in __post_init__
    renames: bool = False
    alternatives: Sequence[str] = ()
    # The name ``ignored_without`` had before 0.2; still taken, with a DeprecationWarning.
    unused_unless: Mapping[str, str] | None = None

    def __post_init__(self) -> None:
        if self.unused_unless is not None:
            warnings.warn(
                "Preset(unused_unless=...) is now Preset(ignored_without=...); the old name will be removed",
                DeprecationWarning,
                stacklevel=3,
            )
            object.__setattr__(self, "ignored_without", {**self.unused_unless, **self.ignored_without})
        object.__setattr__(self, "alternatives", tuple(self.alternatives))
        object.__setattr__(self, "remap", MappingProxyType(dict(self.remap)))
        object.__setattr__(self, "drop", frozenset(self.drop))
        object.__setattr__(self, "ignored_without", MappingProxyType(dict(self.ignored_without)))
        object.__setattr__(self, "unused_unless", self.ignored_without)

    @cached_property
    def rules(self) -> Rules:
        """The preset's options, validated, as ``guard``, ``patched`` and ``kwarg_guard`` apply them
        (checked on first use).

        Raises:
            TypeError, ValueError: the options are malformed (see ``kwarg_guard``).
        """
        from .._rules import Rules

        return Rules.from_options(
            dict(self.remap), self.drop, self.on_unknown, dict(self.ignored_without), self.renames
        )

    def requirement_missing(self) -> str | None:
        """The error text when ``requires`` cannot be imported, else ``None``: the preset that
        fits this environment, if one of ``alternatives`` does, else how to install it."""
        if self.requires is None or _importable(self.requires):
            return None
        problem = f"preset {self.name!r} targets {self.target!r}, which needs the {self.requires!r} package, and it is not installed"
        fitting = self.fitting_alternative()
        if fitting is not None:
            return f"{problem}; this environment has what preset {fitting.name!r} guards: use preset={fitting.name!r}"
        return f"{problem}. {self.install_hint}".rstrip()

    def fitting_alternative(self) -> Preset | None:
        """The first of ``alternatives`` whose own requirement is installed, else ``None``."""
        presets = available_presets()
        for name in self.alternatives:
            other = presets.get(name)
            if other is not None and other.requires is not None and _importable(other.requires):
                return other
        return None


def _importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ImportError:  # a parent package is missing
        return False


_REGISTRY: dict = {}
_FROM_ENTRY_POINTS: dict = {}
_PROBLEMS: list = []
_DISCOVERY = {"done": False}
_DISCOVERY_LOCK = threading.Lock()


def register_preset(preset: Preset, *, replace: bool = False) -> Preset:
    """Make ``preset`` available by name.

    >>> from kwarg_guard import Preset, get_preset, register_preset
    >>> _ = register_preset(Preset(name="my_model", description="MyModel: labels -> targets",
    ...                            remap={"labels": "targets"}), replace=True)
    >>> get_preset("my_model").remap["labels"]
    'targets'

    Raises:
        ValueError: a preset of that name exists and ``replace`` is false.
    """
    if not isinstance(preset, Preset):
        raise TypeError(f"register_preset takes a kwarg_guard.presets.Preset, not {type(preset).__name__}")
    if preset.name in _REGISTRY and not replace:
        raise ValueError(f"a preset named {preset.name!r} is already registered; pass replace=True to override it")
    _validate(preset)
    _REGISTRY[preset.name] = preset
    return preset


def available_presets() -> dict:
    """Name -> ``Preset`` for every preset: built-in, registered and from entry points.

    >>> from kwarg_guard import available_presets
    >>> {"higgs_audio", "higgs_audio_v2", "peft_headless"} <= set(available_presets())
    True
    """
    _discover()
    return {**_FROM_ENTRY_POINTS, **_REGISTRY}


def get_preset(name: str) -> Preset:
    """The preset called ``name``.

    >>> from kwarg_guard import get_preset
    >>> get_preset("higgs_audio").remap["labels"]
    'label_ids'

    Raises:
        ValueError: no such preset; the message lists the known ones.
    """
    presets = available_presets()
    try:
        return presets[name]
    except (KeyError, TypeError):
        known = ", ".join(sorted(presets)) or "none"
        guess = _closest(name, presets) if isinstance(name, str) else None
        hint = f" (did you mean {guess!r}?)" if guess else ""
        raise ValueError(f"unknown preset {name!r}{hint}; known presets: {known}") from None


def _closest(name: str, presets: Collection[str]) -> str | None:
    # Preset names are identifiers: a hyphen or a capital is the commonest slip.
    spelled = name.strip().lower().replace("-", "_")
    if spelled in presets:
        return spelled
    matches = difflib.get_close_matches(spelled, list(presets), n=1, cutoff=0.8)
    return matches[0] if matches else None


def preset_problems() -> list:
    """Entry points that could not be used, as ``"<distribution>: <problem>"`` lines.

    >>> from kwarg_guard import preset_problems
    >>> isinstance(preset_problems(), list)
    True
    """
    _discover()
    return list(_PROBLEMS)


def reload_entry_points() -> None:
    """Read the ``kwarg_guard.presets`` entry points again (after installing a package)."""
    with _DISCOVERY_LOCK:
        _DISCOVERY["done"] = False
    _discover()


def _discover() -> None:
    with _DISCOVERY_LOCK:
        if _DISCOVERY["done"]:
            return
        _DISCOVERY["done"] = True
        _FROM_ENTRY_POINTS.clear()
        _PROBLEMS.clear()
        for entry_point in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
            for problem in _load_entry_point(entry_point):
                _PROBLEMS.append(problem)
                _LOGGER.warning("preset entry point skipped: %s", problem)


def _load_entry_point(entry_point) -> list:
    distribution = getattr(getattr(entry_point, "dist", None), "name", None) or "an unknown distribution"
    where = f"{distribution}: entry point {entry_point.name!r} ({entry_point.value})"
    try:
        loaded = entry_point.load()
        if callable(loaded) and not isinstance(loaded, Preset):
            loaded = loaded()
    except Exception as exc:
        return [f"{where} failed to load: {type(exc).__name__}: {exc}"]
    presets = list(loaded) if isinstance(loaded, (list, tuple)) else [loaded]
    problems = []
    for preset in presets:
        if not isinstance(preset, Preset):
            problems.append(f"{where} gave {type(preset).__name__}, not a kwarg_guard.presets.Preset")
        elif preset.name in _REGISTRY or preset.name in _FROM_ENTRY_POINTS:
            problems.append(f"{where} defines preset {preset.name!r}, which already exists; kept the first")
        else:
            try:
                _validate(preset)
            except (TypeError, ValueError) as exc:
                problems.append(f"{where} has a malformed preset {preset.name!r}: {exc}")
            else:
                _FROM_ENTRY_POINTS[preset.name] = preset
    return problems


def _validate(preset: Preset) -> None:
    preset.rules  # noqa: B018 - building the rules is the check


def installable(preset: Preset) -> tuple[str, str]:
    """``(module, class name)`` whose import triggers ``install(preset)``.

    Raises:
        ValueError: ``install()`` cannot reach the preset's target.
    """
    from .._holders import HeldModels

    target = preset.target
    if isinstance(target, type):
        return target.__module__, target.__qualname__
    if isinstance(target, str) and "." in target:
        module_name, class_name = target.rsplit(".", 1)
        return module_name, class_name
    if isinstance(target, HeldModels) and target.module:
        return target.module, target.holder
    raise ValueError(
        f"install() needs a preset whose target is a class, 'package.module.Class', or the model a "
        f"known wrapper holds; preset {preset.name!r} has target {target!r} (use patched()/guard() with it instead)"
    )


from . import builtin as _builtin  # noqa: E402,F401  (registers the built-in presets)
