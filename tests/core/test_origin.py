"""Who passed a keyword: the frame that named it, past the frames that only forwarded it, found and
logged once per keyword and call site."""

import logging
import re

import torch

from kwarg_guard import patched, report
from tests.helpers import Forwarder, Labeled, Outer


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
            r"Labeled\.forward: 'labels' \(None\) dropped, passed by \S*helpers/__init__\.py:\d+ Outer\.forward",
            message,
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
