"""Names spelt alike: the "did you mean" half that does not come from known renames."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = ["close_matches"]

# At 0.6 `audio_label` finds `audio_labels` and `lables` finds `labels`, while `labels` does not
# pull in `use_cache`.
_CUTOFF = 0.6
_MARGIN = 0.15


def close_matches(name: str, candidates: Iterable[str], limit: int = 3) -> list[str]:
    """Up to ``limit`` candidates, best first, spelt alike (``audio_label`` / ``audio_labels``) or
    made of the same words in another order (``label_audio_ids`` / ``audio_labels``)."""
    scored = sorted(
        ((max(difflib.SequenceMatcher(None, name, c).ratio(), _same_words(name, c)), c) for c in set(candidates)),
        key=lambda pair: (-pair[0], pair[1]),
    )
    if not scored:
        return []
    # Only the names about as close as the closest: `audio_label` suggests `audio_labels`, not
    # also `shift_labels`, which merely shares a word.
    floor = max(_CUTOFF, scored[0][0] - _MARGIN)
    return [candidate for score, candidate in scored if score >= floor][:limit]


def _same_words(first: str, second: str) -> float:
    def words(name: str) -> set[str]:
        return {word.rstrip("s") for word in name.lower().split("_") if word}

    a, b = words(first), words(second)
    return len(a & b) / len(a | b) if a | b else 0.0
