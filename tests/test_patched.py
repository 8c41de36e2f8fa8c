"""with patched(model): temporary, exact restore, nesting in any order, both call paths."""

import inspect
import logging

import pytest
import torch
from conftest import Labeled, Outer, guard_state, plain_attributes

from kwarg_guard import kwarg_guard, patched, report, unguard


class TestPatched:
    def test_guards_module_call_and_direct_forward_call(self, labeled, x):
        with patched(labeled, remap={"labels": "label_ids"}) as model:
            assert model is labeled
            assert labeled(x, labels=3)[1] == 3
            assert labeled.forward(x, labels=4, junk=1)[1] == 4

    def test_unguarded_call_still_fails_after_exit(self, labeled, x):
        with patched(labeled):
            labeled(x, junk=1)
        with pytest.raises(TypeError, match="unexpected keyword argument 'junk'"):
            labeled(x, junk=1)

    def test_signature_is_unchanged_while_patched(self, labeled):
        before = inspect.signature(labeled.forward)
        with patched(labeled, remap={"labels": "label_ids"}):
            assert inspect.signature(labeled.forward) == before
            assert labeled.forward.__name__ == "forward"

    def test_dict_restored_exactly_on_normal_exit(self, labeled):
        before = plain_attributes(labeled)
        with patched(labeled):
            assert plain_attributes(labeled) != before
        assert plain_attributes(labeled) == before

    def test_dict_restored_exactly_on_exception(self, labeled, x):
        before = plain_attributes(labeled)
        with pytest.raises(RuntimeError, match="boom"):
            with patched(labeled, remap={"labels": "label_ids"}):
                labeled(x, labels=1)
                raise RuntimeError("boom")
        assert plain_attributes(labeled) == before

    def test_an_instance_forward_that_was_there_is_put_back(self, labeled, x):
        own = labeled.forward  # a bound method stored on the instance, as some patches do
        labeled.forward = own
        before = plain_attributes(labeled)
        with patched(labeled):
            labeled(x, junk=1)
        assert plain_attributes(labeled) == before
        assert vars(labeled)["forward"] is own

    def test_nested_blocks_apply_inner_and_outer_rules(self, labeled, x):
        with patched(labeled, drop=["attention_mask"]):
            with patched(labeled, remap={"labels": "label_ids"}):
                out, label = labeled(x, labels=7, attention_mask=torch.zeros(2, 4))
                assert label == 7
                assert out.abs().sum() > 0  # the zero mask was dropped by the outer rule
            # the inner remap is gone: labels is now an unknown keyword, dropped by the outer block
            assert torch.equal(labeled(x, labels=7), labeled.linear(x))

    def test_outer_remap_survives_an_inner_block_that_drops_unknowns(self, labeled, x):
        with patched(labeled, remap={"labels": "label_ids"}):
            with patched(labeled, on_unknown="drop"):
                assert labeled(x, labels=7)[1] == 7

    @pytest.mark.parametrize("order", [(0, 1, 2), (2, 1, 0), (1, 0, 2), (0, 2, 1)])
    def test_blocks_unwind_in_any_order_without_a_stale_wrapper(self, labeled, x, order):
        before = plain_attributes(labeled)
        blocks = [
            patched(labeled, drop=["attention_mask"]),
            patched(labeled, remap={"labels": "label_ids"}),
            patched(labeled, drop=["junk"]),
        ]
        for block in blocks:
            block.__enter__()
        for index in order:
            blocks[index].__exit__(None, None, None)
            remaining = [b for i, b in enumerate(blocks) if i not in order[: order.index(index) + 1]]
            layers = guard_state(labeled).layers if remaining else ()
            assert [layer.seq for layer in layers] == [b._layer.seq for b in remaining]
        assert plain_attributes(labeled) == before

    def test_a_block_cannot_be_entered_twice_at_once(self, labeled):
        block = patched(labeled)
        with block:
            with pytest.raises(RuntimeError, match="already active"):
                block.__enter__()

    def test_same_block_object_can_be_reused_after_exit(self, labeled, x):
        block = patched(labeled, remap={"labels": "label_ids"})
        for value in (1, 2):
            with block:
                assert labeled(x, labels=value)[1] == value

    def test_target_patches_the_inner_module_a_wrapper_calls(self, labeled, x):
        outer = Outer(labeled)
        with pytest.raises(TypeError, match="'labels'"):
            outer(x)
        with patched(outer, target=Labeled, remap={"labels": "label_ids"}):
            assert torch.equal(outer(x), labeled.linear(x))  # labels=None dropped
            assert outer(x, labels=5)[1] == 5
        assert "forward" not in vars(labeled)

    @pytest.mark.parametrize(
        "target",
        [Labeled, (Labeled, torch.nn.Embedding), "Labeled", "conftest.Labeled", lambda m: isinstance(m, Labeled)],
        ids=["class", "tuple", "name", "qualified", "predicate"],
    )
    def test_every_kind_of_target(self, labeled, x, target):
        outer = Outer(labeled)
        with patched(outer, target=target):
            outer(x)

    def test_instance_guard_keeps_a_class_guards_remap(self, x):
        class Net(Labeled):
            pass

        kwarg_guard(Net, remap={"labels": "label_ids"})
        try:
            net = Net()
            with patched(net, on_unknown="drop"):
                assert net(x, labels=9)[1] == 9
        finally:
            unguard(Net)

    def test_report_survives_the_block(self, labeled, x):
        with patched(labeled, remap={"labels": "label_ids"}):
            labeled(x, labels=1)
            labeled(x, labels=2)
        record = report(labeled).find("labels", "remapped")
        assert record.count == 2 and record.target == "label_ids"


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
