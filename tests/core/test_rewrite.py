"""One forward's rewrite under its rules: what reaches the slow path, warnings, refusals.

The default mode's drop path stays on the guarded callable's own fast path. The Trainer and PEFT
pass the same stray on every step (``labels=None``, ``num_items_in_batch``): once a keyword set has been seen, and once its one warning is given, dropping it must not go
through the ``Rewrite`` again (that costs several times a hand-written filter; see
docs/performance.md). A value arriving later under a keyword set first seen with ``None`` still
warns, once.
"""

from __future__ import annotations

import warnings

import pytest
import torch

from kwarg_guard import UnexpectedKeywordError, UnexpectedKeywordWarning, guard, kwarg_guard, patched, report
from kwarg_guard._rewrite import Rewrite
from tests.helpers import Labeled, Outer


def kwarg_guard_warnings(record):
    return [str(w.message) for w in record if issubclass(w.category, UnexpectedKeywordWarning)]


@pytest.fixture
def rewrites(monkeypatch):
    """The calls that reach ``Rewrite.__call__`` (the slow path), as their keywords."""
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


class TestRaiseMode:
    def test_type_error_names_forward_keyword_close_match_and_origin(self, labeled, x):
        model = Outer(labeled)
        with patched(model, target=Labeled, on_unknown="raise"):
            with pytest.raises(UnexpectedKeywordError) as caught:
                model(x)
        message = str(caught.value)
        assert message.startswith("Labeled.forward() got an unexpected keyword argument 'labels'")
        assert "did you mean 'label_ids'?" in message
        assert "Outer.forward" in message
        assert isinstance(caught.value, TypeError)

    def test_raise_mode_every_call_not_only_the_first(self, labeled, x):
        with patched(labeled, on_unknown="raise"):
            for _ in range(2):
                with pytest.raises(UnexpectedKeywordError):
                    labeled(x, junk=1)


class TestWarnMode:
    def test_a_dropped_value_warns_once_and_a_dropped_none_does_not(self, labeled, x):
        import warnings

        with patched(labeled, on_unknown="warn"):
            with warnings.catch_warnings(record=True) as quiet:
                warnings.simplefilter("always")
                labeled(x, token_type_ids=None)  # nothing lost: no warning
            assert quiet == []
            with pytest.warns(UnexpectedKeywordWarning, match="'token_type_ids' carried a Tensor"):
                labeled(x, token_type_ids=torch.zeros(1))
            with warnings.catch_warnings(record=True) as again:
                warnings.simplefilter("always")
                labeled(x, token_type_ids=torch.zeros(1))  # once is enough
            assert again == []


class TestDefaultWarnsAboutValues:
    def test_a_dropped_value_warns_once_per_forward_and_keyword_with_a_hint(self, labeled, x):
        with warnings.catch_warnings(record=True) as record:
            warnings.simplefilter("always")
            with patched(labeled):
                labeled(x, labels=torch.ones(1))
                labeled(x, labels=torch.ones(1))
                labeled(x, labels=torch.ones(1), attention_mask=None)  # another keyword set
            with patched(labeled):  # a new guard on the same forward
                labeled(x, labels=torch.ones(1))
        (message,) = kwarg_guard_warnings(record)
        assert "'labels' carried a Tensor(float32) value and was dropped before Labeled.forward()" in message
        assert "did you mean 'label_ids'?" in message

    def test_the_warning_points_at_the_callers_line(self, labeled, x):
        with pytest.warns(UnexpectedKeywordWarning) as record, patched(labeled):
            labeled(x, token_type_ids=torch.zeros(1))
        assert record[0].filename == __file__

    def test_none_values_stay_quiet(self, labeled, x):
        with warnings.catch_warnings(record=True) as record:
            warnings.simplefilter("always")
            with patched(Outer(labeled), target=Labeled) as model:
                model(x)  # Outer injects labels=None
        assert kwarg_guard_warnings(record) == []
        assert report(labeled).find("labels").action == "dropped"

    def test_every_door_warns_by_default(self, x):
        @kwarg_guard
        def forward(x, label_ids=None):
            return x

        with pytest.warns(UnexpectedKeywordWarning, match="'labels'"):
            forward(x, labels=1)

    def test_drop_is_the_way_to_be_silent(self, labeled, x):
        with warnings.catch_warnings(record=True) as record:
            warnings.simplefilter("always")
            with patched(labeled, on_unknown="drop"):
                labeled(x, labels=torch.ones(1))
            with patched(labeled, drop=["token_type_ids"]):
                labeled(x, token_type_ids=torch.ones(1))
        assert kwarg_guard_warnings(record) == []


class TestFastPath:
    """Calls whose keywords all pass never reach the rewrite, also for a plain **kwargs forward."""

    def test_named_forward(self, labeled, x, rewrites):
        guard(labeled, remap={"labels": "label_ids"})
        for _ in range(5):
            labeled(x, attention_mask=None, label_ids=None)
        assert rewrites == []

    def test_plain_kwargs_forward(self, x, rewrites):
        class Open(torch.nn.Module):
            def forward(self, x, **kwargs):
                return kwargs

        model = guard(Open(), drop=["junk"])
        for _ in range(5):
            assert model(x, a=1, b=2) == {"a": 1, "b": 2}
        assert rewrites == []
        assert model(x, a=1, junk=2) == {"a": 1}
        assert len(rewrites) == 1
