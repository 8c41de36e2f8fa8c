"""First-occurrence diagnostics: who injected a keyword, logged once, kept in report()."""

import logging
import re

import pytest
import torch
from conftest import Labeled, Outer

from kwarg_guard import UnexpectedKeywordError, UnexpectedKeywordWarning, patched, report


class Forwarder(torch.nn.Module):
    """Only passes **kwargs on: it must appear as 'via', never as the origin."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def forward(self, *args, **kwargs):
        return self.inner(*args, **kwargs)


class DictBuilder(torch.nn.Module):
    """Builds the dict it unpacks: it is the origin even though it calls with **."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def forward(self, x):
        extra = {"token_type_ids": torch.zeros(1)}
        return self.inner(x, **extra)


def kwarg_guard_logs(caplog):
    return [r.getMessage() for r in caplog.records if r.name == "kwarg_guard"]


class TestOrigin:
    def test_names_the_frame_that_passed_it_past_forwarding_frames(self, labeled, x, caplog):
        model = Forwarder(Outer(labeled))
        with caplog.at_level(logging.INFO, logger="kwarg_guard"), patched(model, target=Labeled):
            model(x)
        (message,) = kwarg_guard_logs(caplog)
        assert re.fullmatch(
            r"Labeled\.forward: 'labels' \(None\) dropped, passed by \S*conftest\.py:\d+ Outer\.forward", message
        )

    def test_forwarding_frames_are_listed_as_via(self, labeled, x):
        model = Forwarder(Forwarder(labeled))
        with patched(model, target=Labeled):
            model(x, junk=1)
        (origin,) = report(model).find("junk").origins
        assert origin.where.endswith("test_forwarding_frames_are_listed_as_via")
        assert [v.split()[-1] for v in origin.via] == ["Forwarder.forward", "Forwarder.forward"]

    def test_a_frame_that_builds_the_dict_is_the_origin(self, labeled, x):
        model = DictBuilder(labeled)
        with patched(model, target=Labeled):
            model(x)
        assert report(model).find("token_type_ids").origins[0].where.endswith("DictBuilder.forward")

    def test_logged_once_per_keyword_and_call_site(self, labeled, x, caplog):
        with caplog.at_level(logging.INFO, logger="kwarg_guard"), patched(labeled):
            for _ in range(5):
                labeled(x, junk=1)
            labeled(x, junk=1, attention_mask=None)  # another keyword set, same call site
            labeled(x, junk=2)  # another call site
        assert len(kwarg_guard_logs(caplog)) == 2

    def test_the_stack_walk_runs_only_on_first_sight(self, labeled, x, monkeypatch):
        from kwarg_guard import _rewrite

        walks = []
        real = _rewrite.find_origin
        monkeypatch.setattr(_rewrite, "find_origin", lambda *a, **k: walks.append(a) or real(*a, **k))
        with patched(labeled, remap={"labels": "label_ids"}):
            for _ in range(50):
                labeled(x, junk=1)
                labeled(x, labels=2)
        assert sorted(name for name, *_ in walks) == ["junk", "labels"]
        assert report(labeled).find("junk").count == 50 and report(labeled).find("labels").count == 50


class TestReport:
    def test_records_keyword_action_count_value_kind_and_origin(self, labeled, x):
        with patched(labeled, remap={"labels": "label_ids"}):
            for _ in range(3):
                labeled(x, labels=torch.ones(1, dtype=torch.long), junk="text")
            labeled(x, labels=None)
        records = report(labeled)
        remapped = records.find("labels", "remapped")
        assert (remapped.count, remapped.target, remapped.value_kinds) == (3, "label_ids", ("Tensor(int64)",))
        assert records.find("labels", "dropped (None)").count == 1
        junk = records.find("junk", "dropped")
        assert (junk.count, junk.value_kinds) == (3, ("str",))
        assert all("test_diagnostics.py" in str(r.origins[0]) for r in records)
        table = str(records)
        assert "labels" in table and "remapped -> label_ids" in table and "Labeled.forward" in table

    def test_an_unguarded_model_reports_nothing(self, labeled):
        assert list(report(labeled)) == []
        assert "no keyword" in str(report(labeled))

    def test_report_refuses_what_it_cannot_read(self):
        with pytest.raises(TypeError, match="report takes"):
            report(42)


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
