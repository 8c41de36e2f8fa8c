"""``guard_every(base, ...)``: ``guard`` every instance of a class as it is built.

For code that builds its models itself (a test suite, a library's factory): each instance of
``base`` or a subclass gets ``guard(instance, ...)`` when its construction ends. That end is
``post_init`` where the class has one (transformers' ``PreTrainedModel`` calls it last in every
model's ``__init__``), otherwise the return of the outermost ``__init__``.

The hook is one wrapper per class and method, shared by every active ``guard_every``, so they
nest and can be removed in any order; when the last one using a wrapper is removed, the class
gets back exactly what it had (its own attribute, or none).
"""

from __future__ import annotations

import functools
import threading
import weakref
from collections.abc import Iterable, Mapping
from types import TracebackType
from typing import Any, Literal

import torch

from ._api import Target, _resolve, guard
from ._rules import OnUnknown
from ._targets import passes_everything_on, unwrap_containers

__all__ = ["guard_every"]

_LOCK = threading.RLock()
_ACTIVE: list[guard_every] = []
_HOOKS: dict[tuple[type, str], _Hook] = {}
_BUILDING = threading.local()  # ids of the instances whose hooked method is running, per thread


class _Hook:
    """The wrapper on ``cls.<name>``: runs the method, then guards the instance when this call is
    the outermost hooked one on it (a subclass's ``__init__`` calls its base's through super)."""

    def __init__(self, cls: type, name: str):
        self.cls, self.name, self.users = cls, name, 0
        self.had_own = name in vars(cls)
        self.own = vars(cls).get(name)
        hook = self

        def call_original(instance: Any, *args: Any, **kwargs: Any) -> Any:
            if hook.own is not None:
                return hook.own(instance, *args, **kwargs)
            return getattr(super(hook.cls, instance), hook.name)(*args, **kwargs)

        @functools.wraps(getattr(cls, name))
        def wrapper(instance: Any, *args: Any, **kwargs: Any) -> Any:
            building = _building()
            key = (name, id(instance))
            if key in building:
                return call_original(instance, *args, **kwargs)
            building.add(key)
            try:
                result = call_original(instance, *args, **kwargs)
            finally:
                building.discard(key)
            _guard_built(instance, name)
            return result

        self.wrapper = wrapper
        setattr(cls, name, wrapper)

    def restore(self) -> None:
        if self.had_own:
            setattr(self.cls, self.name, self.own)
        else:
            delattr(self.cls, self.name)


def _building() -> set:
    if not hasattr(_BUILDING, "keys"):
        _BUILDING.keys = set()
    return _BUILDING.keys


def _guard_built(instance: Any, hook_name: str) -> None:
    with _LOCK:
        active = list(_ACTIVE)
    for every in active:
        if every._hook_name == hook_name and isinstance(instance, every.base):
            every._guard(instance)


class guard_every:
    """Guard every instance of ``base`` (and of its subclasses) as it is built, until ``remove()``
    or the end of the ``with`` block. The options are ``guard``'s; each model gets its own
    ``guard(model, ...)``, so ``report``, ``unguard`` and copies work on it as on any guarded model.

    Removing stops the guarding of models built afterwards; the ones already built keep their
    guard (``unguard(model)`` undoes it). ``count`` is how many models it has guarded.

    >>> import torch
    >>> class Net(torch.nn.Module):
    ...     def forward(self, x, label_ids=None):
    ...         return label_ids
    >>> with guard_every(Net, remap={"labels": "label_ids"}) as every:
    ...     net = Net()
    >>> net(1, labels=5), every.count
    (5, 1)
    >>> "forward" in vars(Net())
    False

    With transformers: ``guard_every(PreTrainedModel, on_unknown="raise")`` guards every model
    the library builds, the models inside a model included (a ``BertLMHeadModel`` and its
    ``BertModel``).

    Raises:
        TypeError: ``base`` is not a ``torch.nn.Module`` subclass.
        ValueError, LookupError: bad options, as for ``guard``; nothing is hooked then.
    """

    def __init__(
        self,
        base: type[torch.nn.Module],
        *,
        remap: Mapping[str, str] | None = None,
        drop: Iterable[str] | None = None,
        on_unknown: OnUnknown | None = None,
        target: Target = None,
        preset: str | None = None,
        renames: bool = False,
    ) -> None:
        given: object = base  # typed as a class, but callers pass what they have
        if not (isinstance(given, type) and issubclass(given, torch.nn.Module)):
            what = given.__name__ if isinstance(given, type) else f"a {type(given).__name__} instance"
            raise TypeError(
                f"guard_every(base): base must be a torch.nn.Module subclass, got {what}; "
                "pass the class whose instances to guard (for one model, use guard(model))"
            )
        # Bad options fail here, not inside some model's __init__.
        rules, resolved_target, _ = _resolve(remap, drop, on_unknown, target, preset, renames)
        # Without a target or a remap/drop, guard() refuses a model whose forward only hands every
        # keyword on (transformers' WhisperDecoderWrapper); the model it hands them to is built,
        # and guarded, on its own.
        self._skips_pass_through = resolved_target is None and not (rules.remap or rules.drop)
        self.base = base
        self.count = 0
        self._options: dict[str, Any] = {
            "remap": remap, "drop": drop, "on_unknown": on_unknown, "target": target, "preset": preset,
            "renames": renames,
        }  # fmt: skip
        self._hook_name = "post_init" if callable(getattr(base, "post_init", None)) else "__init__"
        self._hooked: list[type] = []
        self._guarded: weakref.WeakSet[torch.nn.Module] = weakref.WeakSet()
        self._active = True
        with _LOCK:
            classes = [base] if self._hook_name == "post_init" else _with_subclasses(base)
            for cls in classes:
                self._hook(cls)
            _ACTIVE.append(self)

    def _hook(self, cls: type) -> None:
        # Only classes that define __init__ themselves need a wrapper: the others run an
        # ancestor's, which is wrapped. post_init is wrapped on base alone for the same reason.
        if self._hook_name == "__init__" and cls is not self.base and "__init__" not in vars(cls):
            return
        hook = _HOOKS.get((cls, self._hook_name))
        if hook is None:
            hook = _HOOKS[(cls, self._hook_name)] = _Hook(cls, self._hook_name)
        hook.users += 1
        self._hooked.append(cls)

    def _guard(self, instance: torch.nn.Module) -> None:
        if instance in self._guarded:
            return
        if self._skips_pass_through and passes_everything_on(unwrap_containers(instance)):
            return
        try:
            guard(instance, **self._options)
        except LookupError:
            if self._options["target"] is None:
                raise
            return  # this model holds no module that target picks: nothing of it to guard
        self._guarded.add(instance)
        self.count += 1

    @property
    def models(self) -> list[torch.nn.Module]:
        """The models it guarded that are still alive."""
        return list(self._guarded)

    def remove(self) -> None:
        """Stop guarding new instances; the classes get back exactly what they had. Idempotent."""
        with _LOCK:
            if not self._active:
                return
            self._active = False
            _ACTIVE.remove(self)
            for cls in self._hooked:
                hook = _HOOKS[(cls, self._hook_name)]
                hook.users -= 1
                if hook.users == 0:
                    hook.restore()
                    del _HOOKS[(cls, self._hook_name)]
            self._hooked.clear()

    def __enter__(self) -> guard_every:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> Literal[False]:
        self.remove()
        return False


def _with_subclasses(base: type) -> list[type]:
    found: list[type] = []
    pending = [base]
    while pending:
        cls = pending.pop()
        if cls not in found:
            found.append(cls)
            pending.extend(cls.__subclasses__())
    return found
