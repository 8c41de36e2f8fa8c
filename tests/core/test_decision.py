"""The one decision per keyword: which remap source wins, what a None carries, and what comes first."""

import logging

import torch

from kwarg_guard import patched, report


class TestRemapSemantics:
    def test_explicit_target_wins_and_the_source_is_dropped_once_said(self, labeled, x, caplog):
        with caplog.at_level(logging.WARNING, logger="kwarg_guard"):
            with patched(labeled, remap={"labels": "label_ids"}):
                assert labeled(x, labels=1, label_ids=2)[1] == 2
                assert labeled(x, labels=1, label_ids=2)[1] == 2
        said = [r for r in caplog.records if "both given" in r.getMessage()]
        assert len(said) == 1
        assert "kept the explicit 'label_ids'" in said[0].getMessage()

    def test_none_source_is_dropped_never_written_over_a_value(self, labeled, x):
        with patched(labeled, remap={"labels": "label_ids"}):
            assert labeled(x, labels=None, label_ids=3)[1] == 3
            assert torch.equal(labeled(x, labels=None), labeled.linear(x))

    def test_a_none_target_does_not_block_a_real_source(self, labeled, x):
        with patched(labeled, remap={"labels": "label_ids"}):
            assert labeled(x, labels=4, label_ids=None)[1] == 4

    def test_two_sources_one_target_first_real_value_wins(self, labeled, x):
        with patched(labeled, remap={"labels": "label_ids", "label": "label_ids"}):
            assert labeled(x, labels=1, label=2)[1] == 1
            assert labeled(x, labels=None, label=2)[1] == 2

    def test_remapped_value_is_the_same_object(self, labeled, x):
        value = torch.arange(3)
        with patched(labeled, remap={"labels": "label_ids"}):
            assert labeled(x, labels=value)[1] is value

    def test_a_target_given_by_position_wins(self, labeled, x):
        given = torch.tensor(9)
        with patched(labeled, remap={"labels": "label_ids"}):
            assert labeled(x, None, given, labels=torch.tensor(1))[1] is given
            assert labeled.forward(x, None, given, labels=torch.tensor(1))[1] is given
        assert report(labeled).find("labels", "dropped (target given)").count == 2

    def test_a_target_given_by_position_as_none_takes_the_value(self, labeled, x):
        value = torch.tensor(1)
        with patched(labeled, remap={"labels": "label_ids"}):
            assert labeled(x, None, None, labels=value)[1] is value

    def test_remap_runs_before_drop_of_unknowns(self, labeled, x):
        with patched(labeled, remap={"lbl": "label_ids"}, drop=["extra"], on_unknown="raise"):
            assert labeled(x, lbl=1, extra=2)[1] == 1
