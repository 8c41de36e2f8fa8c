"""Keywords that libraries renamed across releases: one table, read for hints and for ``renames=True``.

An old caller meets a new forward (``num_logits_to_keep=`` into a forward that takes
``logits_to_keep``), or a new caller meets an old forward (transformers 5.24's ``generate()``
passes ``cache=`` to a custom forward written for ``past_key_values``). Either way the keyword is
*the same value under another name*: a guard that drops it loses the value silently (generation
runs without its cache). The table below holds renames that users meet across releases;
transformers also publishes its own in the ``deprecate_kwarg`` wrappers on its forwards, which
``_signature`` reads, so a rename found there joins these for that forward.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["KNOWN_RENAMES", "rename_groups", "renames_for", "siblings"]

# (old name, new name, where the rename happened). Ordered old -> new within each chain.
KNOWN_RENAMES: tuple[tuple[str, str, str], ...] = (
    ("lm_labels", "labels", "transformers 2.x"),
    ("masked_lm_labels", "labels", "transformers 2.x"),
    ("output_past", "use_cache", "transformers 2.x"),
    ("past", "past_key_values", "transformers 4.0"),
    ("decoder_past_key_values", "past_key_values", "transformers 4.0"),
    ("num_logits_to_keep", "logits_to_keep", "transformers 4.50"),
    ("past_key_value", "past_key_values", "transformers 4.56"),
    ("past_key_values", "cache", "transformers 5.24"),
)


def rename_groups(extra: Iterable[tuple[str, str]] = ()) -> list[frozenset[str]]:
    """Names joined by renames (transitively: ``past_key_value`` -> ``past_key_values`` -> ``cache``)."""
    groups: list[set[str]] = []
    for old, new in [*((old, new) for old, new, _ in KNOWN_RENAMES), *extra]:
        joined = {old, new}
        for group in [g for g in groups if g & joined]:
            joined |= group
            groups.remove(group)
        groups.append(joined)
    return [frozenset(group) for group in groups]


def siblings(name: str, extra: Iterable[tuple[str, str]] = ()) -> frozenset[str]:
    """Every other name ``name`` was renamed to or from (empty when it has none)."""
    for group in rename_groups(extra):
        if name in group:
            return group - {name}
    return frozenset()


def renames_for(names: frozenset[str], extra: Iterable[tuple[str, str]] = ()) -> dict[str, str]:
    """``{other name: the name this forward takes}`` for each rename group the forward names once.

    ``names`` are the keywords the forward takes by name (parameters, typed ``**kwargs`` keys,
    keywords its decorators read). A group the forward names twice or more (a ``deprecate_kwarg``
    wrapper takes the old name and the forward the new one) needs nothing: the forward handles
    both. A group it never names has no target.
    """
    remap: dict[str, str] = {}
    for group in rename_groups(extra):
        taken = group & names
        if len(taken) == 1:
            (target,) = taken
            remap.update(dict.fromkeys(sorted(group - taken), target))
    return remap
