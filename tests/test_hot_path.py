"""The default mode's drop path stays on the guarded callable's own fast path.

The Trainer and PEFT pass the same stray on every step (``labels=None``, ``num_items_in_batch``):
once a keyword set has been seen, and once its one warning is given, dropping it must not go
through the ``Rewrite`` again (that costs several times a hand-written filter; see
docs/performance.md). A value arriving later under a keyword set first seen with ``None`` still
warns, once.
"""

from __future__ import annotations

import warnings

import pytest

from kwarg_guard import guard, report
from kwarg_guard._rewrite import Rewrite
from kwarg_guard.errors import UnexpectedKeywordWarning


@pytest.fixture
def rewrites(monkeypatch):
    calls = []
    original = Rewrite.__call__

    def counting(self, args, kwargs):
        calls.append(dict(kwargs))
        return original(self, args, kwargs)

    monkeypatch.setattr(Rewrite, "__call__", counting)
    return calls


def test_a_stray_none_is_dropped_without_the_rewrite_after_first_sight(labeled, x, rewrites):
    guard(labeled)
    for _ in range(5):
        labeled(x, labels=None)
    assert len(rewrites) == 1
    assert report(labeled).find("labels").count == 5


def test_a_value_after_none_warns_once_then_stays_on_the_fast_path(labeled, x, rewrites):
    guard(labeled)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        labeled(x, labels=None)
        labeled(x, labels=None)
        labeled(x, labels=1)
        labeled(x, labels=2)
        labeled(x, labels=None)
    assert len([w for w in caught if issubclass(w.category, UnexpectedKeywordWarning)]) == 1
    assert len(rewrites) == 2  # first sight, and the call whose value was warned about
    assert sum(record.count for record in report(labeled) if record.keyword == "labels") == 5
