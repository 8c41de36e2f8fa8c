"""The options every door takes, checked once and merged when guards stack.

A ``Rules`` value is immutable and picklable: it travels with a guarded model through
``copy.deepcopy``, ``pickle`` and ``torch.save``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal, cast

from ._renames import renames_for
from ._signature import Accepted

__all__ = ["DEFAULT_ON_UNKNOWN", "ON_UNKNOWN", "OnUnknown", "Rules", "merge_rules"]

OnUnknown = Literal["drop", "warn", "raise"]

# Ordered from lenient to strict: merged layers take the strictest mode any of them asked for.
ON_UNKNOWN: tuple[OnUnknown, ...] = ("drop", "warn", "raise")
# A keyword that carried a value must not vanish without a word; "drop" is the explicit way to
# be silent.
DEFAULT_ON_UNKNOWN: OnUnknown = "warn"


@dataclass(frozen=True)
class Rules:
    """What to do with keywords before they reach one forward.

    Attributes:
        remap: ``{source: target}`` renames applied before anything else.
        drop: names always removed, accepted or not.
        ignored_without: ``{keyword: attribute}``: on a module whose ``attribute`` is ``None`` or
            missing, the forward takes ``keyword`` but ignores it; the guard reports it as ignored.
        on_unknown: ``"drop"``, ``"warn"`` or ``"raise"`` for keywords the forward does not take;
            ``None`` means "not chosen here" (merged layers fall back to ``"warn"``).
        renames: apply the known renames (``cache`` / ``past_key_values``, ``num_logits_to_keep``
            / ``logits_to_keep`` ...) in whichever direction each forward needs: a keyword whose
            other name the forward takes moves to that name.
    """

    # ((source, target), ...) sorted, so equal options give equal Rules whatever their order, and a
    # tuple keeps Rules hashable. When several sources map to one target, the call decides which
    # value wins (the first passed), never the order the options were written in.
    remap: tuple[tuple[str, str], ...] = ()
    drop: frozenset[str] = field(default_factory=frozenset)
    on_unknown: OnUnknown | None = None
    # ((keyword, attribute), ...): the forward takes the keyword but the model ignores it unless
    # the module's attribute is set (a ``labels`` with no text head); sorted, like remap.
    ignored_without: tuple[tuple[str, str], ...] = ()
    renames: bool = False

    @classmethod
    def from_options(
        cls,
        remap: Mapping[str, str] | None = None,
        drop: Iterable[str] | None = None,
        on_unknown: str | None = None,
        ignored_without: Mapping[str, str] | None = None,
        renames: bool = False,
    ) -> Rules:
        """Check user-facing options and build ``Rules``.

        Raises:
            TypeError: an option has the wrong type (``drop="labels"`` instead of a list).
            ValueError: an unknown ``on_unknown``, or a remap cycle, chain or self-map.
        """
        if not isinstance(renames, bool):
            raise TypeError(f"renames takes True or False, not {renames!r}")
        return cls(
            _check_remap(remap),
            _check_drop(drop),
            _check_on_unknown(on_unknown),
            _check_ignored(ignored_without),
            renames,
        )

    @property
    def remap_map(self) -> dict[str, str]:
        return dict(self.remap)

    @property
    def mode(self) -> OnUnknown:
        """The ``on_unknown`` in force: ``"warn"`` unless a layer chose otherwise."""
        return self.on_unknown or DEFAULT_ON_UNKNOWN

    def for_forward(self, accepted: Accepted) -> Rules:
        """These rules with the known renames that ``accepted`` needs added to ``remap``.

        An explicit remap or drop of a name wins over a rename of it.
        """
        if not self.renames:
            return self
        remap = self.remap_map
        for source, target in renames_for(accepted.known, accepted.renames).items():
            if source not in remap and source not in self.drop and target not in remap:
                remap[source] = target
        return dataclasses.replace(self, remap=tuple(sorted(remap.items())))

    def check_against(self, accepted: Accepted) -> None:
        """Fail at patch time, not at the first step, when a remap cannot land.

        Raises:
            ValueError: a remap target the forward does not accept, or one that is also dropped.
        """
        for source, target in self.remap:
            if target in self.drop:
                raise ValueError(
                    f"remap sends {source!r} to {target!r}, which drop removes again; "
                    f"take {target!r} out of drop or out of remap"
                )
            if not accepted.accepts(target):
                hint = accepted.hint(target)
                raise ValueError(
                    f"remap sends {source!r} to {target!r}, but {accepted.forward}() does not accept "
                    f"{target!r}{hint}; accepted keywords: {', '.join(sorted(accepted.known)) or 'none'}"
                )


def merge_rules(layers: Iterable[Rules]) -> Rules:
    """Combine stacked guards so that every layer's rules apply at once.

    Remaps and drops are united; the strictest ``on_unknown`` wins, because an outer
    ``on_unknown="raise"`` must not be loosened by an inner guard that did not choose a mode.

    Raises:
        ValueError: two layers map one source to different targets, or together form a chain.
    """
    remap: dict[str, str] = {}
    drop: set[str] = set()
    modes: list[OnUnknown] = []
    unused: set[tuple[str, str]] = set()
    renames = False
    for rules in layers:
        unused.update(rules.ignored_without)
        renames = renames or rules.renames
        for source, target in rules.remap:
            if remap.setdefault(source, target) != target:
                raise ValueError(
                    f"stacked guards remap {source!r} both to {remap[source]!r} and to {target!r}; pick one"
                )
        drop |= rules.drop
        if rules.on_unknown is not None:
            modes.append(rules.on_unknown)
    _check_no_chain(remap)
    strictest = max(modes, key=ON_UNKNOWN.index) if modes else None
    return Rules(tuple(sorted(remap.items())), frozenset(drop), strictest, tuple(sorted(unused)), renames)


def _check_remap(remap: object) -> tuple[tuple[str, str], ...]:
    if remap is None:
        return ()
    if not isinstance(remap, Mapping):
        raise TypeError(f"remap takes a dict {{source: target}} of keyword names, not {type(remap).__name__}")
    for source, target in remap.items():
        if not isinstance(source, str) or not isinstance(target, str):
            raise TypeError(f"remap takes keyword names as strings, got {source!r}: {target!r}")
    _check_no_chain(remap)
    return tuple(sorted(remap.items()))


def _check_no_chain(remap: Mapping[str, str]) -> None:
    # A target that is also a source makes the result depend on the order of renames
    # (a->b, b->a swaps or loses a value); one step from source to final name is always clear.
    for source, target in remap.items():
        if source == target:
            raise ValueError(f"remap maps {source!r} onto itself; leave it out of remap")
        if target in remap:
            raise ValueError(
                f"remap chains {source!r} -> {target!r} -> {remap[target]!r}"
                + (" (a cycle)" if remap[target] == source else "")
                + "; map each source straight to its final name"
            )


def _check_drop(drop: object) -> frozenset[str]:
    if drop is None:
        return frozenset()
    if isinstance(drop, (str, bytes)):
        raise TypeError(f"drop takes a list of keyword names; for one name write drop=[{drop!r}]")
    if not isinstance(drop, Iterable):
        raise TypeError(f"drop takes a list of keyword names, not {type(drop).__name__}")
    names = frozenset(drop)
    for name in names:
        if not isinstance(name, str):
            raise TypeError(f"drop takes keyword names as strings, got {name!r}")
    return names


def _check_ignored(unused: object) -> tuple[tuple[str, str], ...]:
    if unused is None:
        return ()
    if not isinstance(unused, Mapping) or not all(isinstance(k, str) and isinstance(v, str) for k, v in unused.items()):
        raise TypeError(f"ignored_without takes a dict {{keyword: module attribute}} of strings, not {unused!r}")
    return tuple(sorted(unused.items()))


def _check_on_unknown(on_unknown: object) -> OnUnknown | None:
    if on_unknown is not None and on_unknown not in ON_UNKNOWN:
        raise ValueError(f"on_unknown must be one of {', '.join(map(repr, ON_UNKNOWN))}, not {on_unknown!r}")
    return cast("OnUnknown | None", on_unknown)
