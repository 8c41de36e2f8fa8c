"""Adding and removing guard layers, seen through patched(model): temporary, exact restore, nesting in
any order, both call paths, and nothing left half-patched by an error."""

import inspect

import pytest
import torch

from kwarg_guard import guard, kwarg_guard, patched, report, unguard
from tests.helpers import Labeled, Outer, guard_state, plain_attributes


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
        [Labeled, (Labeled, torch.nn.Embedding), "Labeled", "tests.helpers.Labeled", lambda m: isinstance(m, Labeled)],
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


class TestNothingHalfPatched:
    def test_an_error_on_the_second_target_leaves_the_first_untouched(self):
        class OnlyX(torch.nn.Module):
            def forward(self, x):
                return x

        holder = torch.nn.ModuleList([Labeled(), OnlyX()])
        before = [plain_attributes(m) for m in holder]
        with pytest.raises(ValueError, match=r"OnlyX\.forward\(\) does not accept 'label_ids'"):
            guard(holder, target=lambda m: isinstance(m, (Labeled, OnlyX)), remap={"labels": "label_ids"})
        assert [plain_attributes(m) for m in holder] == before

    def test_a_failed_nested_block_leaves_the_outer_one_working(self, labeled, x):
        with patched(labeled, remap={"labels": "label_ids"}):
            outer_forward = vars(labeled)["forward"]
            with pytest.raises(ValueError):
                with patched(labeled, remap={"junk": "nope"}):
                    pass
            assert vars(labeled)["forward"] is outer_forward
            assert labeled(x, labels=1)[1] == 1
