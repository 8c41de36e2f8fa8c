"""The public doors: ``kwarg_guard``, ``patched``, ``guard``, ``unguard``, ``report``.

They differ only in *where* the rewrite is installed and for how long; what happens to a call
is decided by the same ``Rules`` and ``Rewrite`` in every case.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from types import TracebackType
from typing import Any, Literal, TypeVar, overload

import torch

from ._guarded import Layer, guard_function, state_of
from ._keyword_log import Report, every_keyword_log, existing_keyword_log
from ._patching import add_layer, end_block, guard_class, layers_of, remove_layer, unguard_class
from ._rules import OnUnknown, Rules
from ._targets import check_module, find_targets
from ._wrapped import wrapper_chain
from .errors import NotGuardedError
from .presets import Preset, get_preset

# What ``target=`` takes: a class, classes, a dotted class name, or a predicate on modules.
Target = type | tuple[type, ...] | str | Callable[[torch.nn.Module], bool] | None
Guarded = TypeVar("Guarded")
Model = TypeVar("Model", bound=torch.nn.Module)

__all__ = ["guard", "kwarg_guard", "patched", "report", "unguard"]


def _resolve(
    remap: Mapping[str, str] | None,
    drop: Iterable[str] | None,
    on_unknown: OnUnknown | None,
    target: Target,
    preset: str | None,
    renames: bool = False,
) -> tuple[Rules, Target, Preset | None]:
    """Options (and a preset's defaults) -> ``(Rules, target, Preset | None)``."""
    explicit = Rules.from_options(remap, drop, on_unknown, renames=renames)
    if preset is None:
        return explicit, target, None
    chosen = get_preset(preset)
    base = chosen.rules
    remap_map = {**base.remap_map, **explicit.remap_map}
    rules = Rules.from_options(
        remap_map,
        base.drop | explicit.drop,
        explicit.on_unknown or base.on_unknown,
        dict(base.ignored_without),
        base.renames or renames,
    )
    return rules, (target if target is not None else chosen.target), chosen


def _targets(
    model: torch.nn.Module, door: str, target: Target, preset: Preset | None, rules: Rules
) -> list[torch.nn.Module]:
    check_module(model, door)
    try:
        return find_targets(model, target, door, changes_keywords=bool(rules.remap or rules.drop))
    except LookupError as exc:
        missing = preset.requirement_missing() if preset is not None else None
        if missing:
            raise ImportError(missing) from None
        raise exc


@overload
def kwarg_guard(
    fn: Guarded,
    /,
    *,
    remap: Mapping[str, str] | None = None,
    drop: Iterable[str] | None = None,
    on_unknown: OnUnknown | None = None,
    preset: str | None = None,
    target: Target = None,
    renames: bool = False,
) -> Guarded: ...
@overload
def kwarg_guard(
    fn: None = None,
    /,
    *,
    remap: Mapping[str, str] | None = None,
    drop: Iterable[str] | None = None,
    on_unknown: OnUnknown | None = None,
    preset: str | None = None,
    target: Target = None,
    renames: bool = False,
) -> Callable[[Guarded], Guarded]: ...
def kwarg_guard(
    fn: Any = None,
    /,
    *,
    remap: Mapping[str, str] | None = None,
    drop: Iterable[str] | None = None,
    on_unknown: OnUnknown | None = None,
    preset: str | None = None,
    target: Target = None,
    renames: bool = False,
) -> Any:
    """Guard a function, a method, a class's ``forward``, or (like ``guard``) a module.

    Bare ``@kwarg_guard`` drops keywords the function does not accept; with options it remaps,
    drops or refuses them; ``renames=True`` moves a keyword a library renamed (``cache`` /
    ``past_key_values``, ``num_logits_to_keep`` / ``logits_to_keep`` ...) to the name the function
    takes. A class is guarded in place for every instance and returned.

    >>> @kwarg_guard(remap={"labels": "label_ids"})
    ... def forward(input_ids, label_ids=None):
    ...     return label_ids
    >>> forward(1, labels=7, token_type_ids=0)
    7

    Raises:
        ValueError: a remap target the function does not accept, a remap cycle, an unknown preset.
        TypeError: ``target`` given for a function or class (it selects modules inside a model).
    """
    if fn is None:
        return lambda f: kwarg_guard(
            f, remap=remap, drop=drop, on_unknown=on_unknown, preset=preset, target=target, renames=renames
        )
    if isinstance(fn, torch.nn.Module):
        return guard(fn, remap=remap, drop=drop, on_unknown=on_unknown, preset=preset, target=target, renames=renames)
    rules, _, _ = _resolve(remap, drop, on_unknown, None, preset, renames)
    if target is not None:
        raise TypeError("target selects modules inside a model; for a function or class leave it out")
    if isinstance(fn, type):
        if not callable(getattr(fn, "forward", None)):
            raise TypeError(f"kwarg_guard(cls) guards cls.forward, and {fn.__qualname__} has no forward")
        guard_class(fn, rules)
        return fn
    if not callable(fn):
        raise TypeError(f"kwarg_guard takes a function, a class or a module, not {type(fn).__name__}")
    return guard_function(fn, rules)


class patched:
    """Guard ``model`` (or the modules ``target`` picks inside it) for the ``with`` block.

    On exit, normally or by an exception, each patched module's ``__dict__`` holds exactly the
    keys and values it held before. Blocks nest (inner and outer rules both apply) and may
    unwind in any order.

    >>> import torch
    >>> class Net(torch.nn.Module):
    ...     def forward(self, x, label_ids=None):
    ...         return label_ids
    >>> net = Net()
    >>> with patched(net, remap={"labels": "label_ids"}):
    ...     net(1, labels=5, junk=0)
    5
    >>> "forward" in vars(net)
    False

    Raises:
        TypeError: ``model`` is not a ``torch.nn.Module``.
        LookupError: ``target`` matched nothing inside ``model``.
        ValueError: bad options (see ``kwarg_guard``); nothing is patched then.
    """

    def __init__(
        self,
        model: torch.nn.Module,
        *,
        remap: Mapping[str, str] | None = None,
        drop: Iterable[str] | None = None,
        on_unknown: OnUnknown | None = None,
        target: Target = None,
        preset: str | None = None,
        renames: bool = False,
    ) -> None:
        check_module(model, "patched")
        self.model = model
        self._rules, self._target, self._preset = _resolve(remap, drop, on_unknown, target, preset, renames)
        self._layer: Layer | None = None
        self._modules: tuple[torch.nn.Module, ...] = ()

    def __enter__(self) -> torch.nn.Module:
        if self._layer is not None:
            raise RuntimeError("this patched(...) block is already active; create a new one to nest")
        modules = _targets(self.model, "patched", self._target, self._preset, self._rules)
        layer = Layer.new(self._rules, "patched")
        add_layer(modules, layer)
        self._layer, self._modules = layer, tuple(modules)
        return self.model

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> Literal[False]:
        layer, modules = self._layer, self._modules
        self._layer, self._modules = None, ()
        if layer is not None:
            end_block(modules, layer)
        return False


def guard(
    model: Model,
    *,
    remap: Mapping[str, str] | None = None,
    drop: Iterable[str] | None = None,
    on_unknown: OnUnknown | None = None,
    target: Target = None,
    preset: str | None = None,
    renames: bool = False,
) -> Model:
    """Guard ``model`` (or the modules ``target`` picks) until ``unguard``; return ``model``.

    The guard survives ``copy.deepcopy``, ``pickle`` and ``torch.save``; the copy calls its own
    parameters. Guarding again with the same options is a no-op.

    >>> import torch
    >>> class Net(torch.nn.Module):
    ...     def forward(self, x, label_ids=None):
    ...         return label_ids
    >>> net = guard(Net(), remap={"labels": "label_ids"})
    >>> net(1, labels=5)
    5

    Raises:
        TypeError, LookupError, ValueError: as for ``patched``; nothing is patched then.
    """
    check_module(model, "guard")
    rules, target, chosen = _resolve(remap, drop, on_unknown, target, preset, renames)
    modules = _targets(model, "guard", target, chosen, rules)
    if all(any(layer.kind == "guard" and layer.rules == rules for layer in layers_of(m)) for m in modules):
        return model
    add_layer(modules, Layer.new(rules, "guard"))
    return model


def unguard(obj: Guarded) -> Guarded:
    """Undo the most recent ``guard`` on a model (all modules it patched), or the class guard
    ``kwarg_guard(cls, ...)`` on a class. Returns ``obj``.

    >>> import torch
    >>> net = guard(torch.nn.Linear(2, 2))
    >>> "forward" in vars(net)
    True
    >>> "forward" in vars(unguard(net))
    False

    Raises:
        NotGuardedError: there is no such guard (``patched`` blocks are undone by their ``with``).
        TypeError: ``obj`` is neither a module nor a class.
    """
    if isinstance(obj, type):
        unguard_class(obj)
        return obj
    check_module(obj, "unguard")
    assert isinstance(obj, torch.nn.Module)  # check_module raised otherwise
    guarded = [m for m in obj.modules() if any(layer.kind == "guard" for layer in layers_of(m))]
    if not guarded:
        raise NotGuardedError(
            f"{type(obj).__name__} has no guard(...) on it or inside it; nothing to undo "
            "(a patched(...) block is undone when its with-block ends)"
        )
    newest = max(
        (layer for m in guarded for layer in layers_of(m) if layer.kind == "guard"), key=lambda layer: layer.seq
    )
    remove_layer(guarded, newest.token)
    return obj


def report(obj: object = None) -> Report:
    """What the guards on ``obj`` (a model, a guarded function or class; with no argument, every
    guard in this process) dropped, remapped or saw ignored: keyword, action, count, value kinds
    and origin. Records outlive ``patched`` blocks; ``str(report(model))`` is a table.

    >>> import torch
    >>> class Net(torch.nn.Module):
    ...     def forward(self, x):
    ...         return x
    >>> net = guard(Net(), on_unknown="drop")
    >>> net(1, labels=None)
    1
    >>> [(record.keyword, str(record.action), record.count) for record in report(net)]
    [('labels', 'dropped', 1)]
    """
    keyword_logs = []
    if obj is None:
        keyword_logs = every_keyword_log()
    elif isinstance(obj, torch.nn.Module):
        for module in obj.modules():
            keyword_logs.append(existing_keyword_log(module))
            keyword_logs.extend(_class_ledgers(type(module)))
    elif isinstance(obj, type):
        keyword_logs.extend(_class_ledgers(obj))
    elif (state := state_of(obj)) is not None:
        keyword_logs.append(state.keyword_log)
    else:
        raise TypeError(f"report takes a module, a guarded class or a guarded function, not {type(obj).__name__}")
    seen, records = set(), []
    for keyword_log in keyword_logs:
        if keyword_log is not None and id(keyword_log) not in seen:
            seen.add(id(keyword_log))
            records.extend(keyword_log.records())
    return Report(records)


def _class_ledgers(cls: type) -> list:
    states = (state_of(level) for level in wrapper_chain(getattr(cls, "forward", None)))
    return [state.keyword_log for state in states if state is not None]
