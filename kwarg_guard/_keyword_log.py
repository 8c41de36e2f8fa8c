"""What a guard did: one record per forward, keyword and action, counted on every call.

Ledgers live outside the guarded module (a weak mapping keyed by the module), so a
``patched`` block can restore the module's ``__dict__`` exactly and ``report`` still answers
after it exits.
"""

from __future__ import annotations

import itertools
import logging
import threading
import weakref
from dataclasses import dataclass

from ._origin import Origin
from ._table import render_table

__all__ = [
    "LOGGER",
    "KeywordLog",
    "KeywordRecord",
    "Report",
    "every_keyword_log",
    "existing_keyword_log",
    "keep_every_keyword_log",
    "keyword_log_for",
]

LOGGER = logging.getLogger("kwarg_guard")

_LEDGERS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_LEDGERS_LOCK = threading.Lock()
# Every keyword_log in this process, for report() of the whole process; kept alive past their
# modules only when asked (a report printed at exit must not lose a model freed before it).
_EVERY_LEDGER: weakref.WeakSet[KeywordLog] = weakref.WeakSet()
_EVERY_LEDGER_LOCK = threading.Lock()
_KEPT: list = []
_KEEPING = {"on": False}


def keep_every_keyword_log() -> None:
    """From now on, keyword_logs outlive their modules (for a report of the whole process at exit)."""
    with _EVERY_LEDGER_LOCK:
        _KEEPING["on"] = True
        _KEPT.extend(_EVERY_LEDGER)


def every_keyword_log() -> list:
    """Every keyword_log of this process that still exists."""
    with _EVERY_LEDGER_LOCK:
        return list(_EVERY_LEDGER)


def keyword_log_for(owner) -> KeywordLog:
    """The keyword_log of a module instance (created on first use)."""
    with _LEDGERS_LOCK:
        keyword_log = _LEDGERS.get(owner)
        if keyword_log is None:
            keyword_log = _LEDGERS[owner] = KeywordLog()
        return keyword_log


def existing_keyword_log(owner) -> KeywordLog | None:
    """The keyword_log of ``owner`` if a guard ever wrote one."""
    with _LEDGERS_LOCK:
        return _LEDGERS.get(owner)


def peek(counter: itertools.count) -> int:
    # itertools.count is the one counter CPython advances atomically; its repr is its state.
    return int(repr(counter)[6:-1])


@dataclass(frozen=True)
class KeywordRecord:
    """One line of ``report``: what happened to one keyword at one forward.

    Attributes:
        forward: qualified name of the guarded forward.
        keyword: the keyword as it arrived.
        action: what happened, one of ``dropped``, ``dropped (None)``, ``dropped (target given)``,
            ``remapped``, ``ignored by forward`` (the values of ``kwarg_guard.Action``).
        target: for remaps, the name the value was given (or kept) under.
        count: calls in which it happened.
        value_kinds: kinds of values seen (``None``, ``Tensor``, ``int`` ...).
        origins: where it came from, as found by the stack walk.

    >>> from kwarg_guard import kwarg_guard, report
    >>> @kwarg_guard(remap={"labels": "label_ids"})
    ... def forward(x, label_ids=None):
    ...     return label_ids
    >>> forward(1, labels=3)
    3
    >>> (record,) = report(forward)
    >>> record.keyword, str(record.action), record.target, record.count
    ('labels', 'remapped', 'label_ids', 1)
    """

    forward: str
    keyword: str
    action: str
    target: str | None
    count: int
    value_kinds: tuple
    origins: tuple

    def __str__(self) -> str:
        action = f"{self.action} -> {self.target}" if self.target else self.action
        origins = "; ".join(str(o) for o in self.origins) or "-"
        return f"{self.forward}: {self.keyword!r} {action} x{self.count} [{', '.join(self.value_kinds)}] from {origins}"


class Report(tuple):
    """The records of a model's guards; ``str()`` renders a table.

    >>> from kwarg_guard import kwarg_guard, report
    >>> @kwarg_guard
    ... def forward(x):
    ...     return x
    >>> print(report(forward))
    kwarg_guard: no keyword was dropped, remapped or ignored
    >>> forward(1, junk=None)
    1
    >>> len(report(forward))
    1
    """

    def __str__(self) -> str:
        if not self:
            return "kwarg_guard: no keyword was dropped, remapped or ignored"
        header = ("forward", "keyword", "action", "count", "values")
        rows = [
            (
                r.forward,
                r.keyword,
                f"{r.action} -> {r.target}" if r.target else r.action,
                str(r.count),
                ", ".join(r.value_kinds),
            )
            for r in self
        ]
        origins = ["from " + ("; ".join(str(o) for o in r.origins) or "an unknown caller") for r in self]
        return "\n".join(render_table(header, rows, details=origins, narrow_first=(4, 2)))

    def find(self, keyword: str, action: str | None = None) -> KeywordRecord | None:
        """The first record for ``keyword`` (and ``action`` when given), or ``None``."""
        for record in self:
            if record.keyword == keyword and (action is None or record.action == action):
                return record
        return None


class _Entry:
    __slots__ = ("action", "counters", "forward", "keyword", "origins", "target", "value_kinds")

    def __init__(self, forward, keyword, action, target):
        self.forward, self.keyword, self.action, self.target = forward, keyword, action, target
        self.counters: list = []
        self.value_kinds: list = []
        self.origins: list = []

    def snapshot(self) -> KeywordRecord:
        return KeywordRecord(
            self.forward,
            self.keyword,
            self.action,
            self.target,
            sum(peek(c) for c in self.counters),
            tuple(self.value_kinds),
            tuple(self.origins),
        )


class KeywordLog:
    """Records for every forward guarded on one owner (a module, or a guarded function)."""

    def __init__(self) -> None:
        self._entries: dict[tuple[str, str, str, str | None], _Entry] = {}
        self._warned: set[tuple[str, str]] = set()
        self._lock = threading.Lock()
        with _EVERY_LEDGER_LOCK:
            _EVERY_LEDGER.add(self)
            if _KEEPING["on"]:
                _KEPT.append(self)

    def first_warning(self, forward: str, keyword: str) -> bool:
        """True the first time it is asked for ``(forward, keyword)``: warn once, however often
        the guard is rebuilt."""
        with self._lock:
            if (forward, keyword) in self._warned:
                return False
            self._warned.add((forward, keyword))
            return True

    def has_warned(self, forward: str, keyword: str) -> bool:
        return (forward, keyword) in self._warned

    def note(self, forward: str, keyword: str, action: str, target, value, origin: Origin, counter) -> bool:
        """Attach ``counter`` to the record and remember the value kind and origin.

        Returns True when this (record, origin) pair is new, i.e. when it is worth a log line.
        """
        with self._lock:
            key = (forward, keyword, action, target)
            entry = self._entries.get(key)
            if entry is None:
                entry = self._entries[key] = _Entry(forward, keyword, action, target)
            if not any(c is counter for c in entry.counters):
                entry.counters.append(counter)
            kind = value_kind(value)
            if kind not in entry.value_kinds:
                entry.value_kinds.append(kind)
            if origin in entry.origins:
                return False
            entry.origins.append(origin)
            return True

    def records(self) -> list:
        with self._lock:
            return [entry.snapshot() for entry in self._entries.values()]


def value_kind(value) -> str:
    if value is None:
        return "None"
    dtype = getattr(value, "dtype", None)
    if dtype is not None:
        return f"{type(value).__name__}({str(dtype).removeprefix('torch.')})"
    return type(value).__name__
