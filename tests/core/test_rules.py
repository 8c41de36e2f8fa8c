"""The options every door takes: bad ones are a clear error naming the problem and the fix, equal ones
are the same rules, and stacked ones merge or say why they cannot."""

import pytest
import torch

from kwarg_guard import guard, kwarg_guard, patched
from kwarg_guard._patching import layers_of
from kwarg_guard._rules import Rules
from tests.helpers import Labeled, Outer


class TestOptions:
    @pytest.mark.parametrize(
        "remap, message",
        [
            ({"labels": "labels"}, "onto itself"),
            ({"a": "b", "b": "a"}, "a cycle"),
            ({"a": "b", "b": "label_ids"}, "chains 'a' -> 'b' -> 'label_ids'"),
        ],
    )
    def test_remap_cycles_self_maps_and_chains(self, labeled, remap, message):
        with pytest.raises(ValueError, match=message):
            patched(labeled, remap=remap)

    def test_remap_target_the_forward_does_not_accept(self, labeled):
        with pytest.raises(ValueError, match=r"does not accept 'label_id' \(did you mean 'label_ids'\?\)"):
            with patched(labeled, remap={"labels": "label_id"}):
                pass

    def test_remap_into_a_dropped_name(self, labeled):
        with pytest.raises(ValueError, match="drop removes again"):
            guard(labeled, remap={"labels": "label_ids"}, drop=["label_ids"])

    def test_drop_given_as_a_string(self, labeled):
        with pytest.raises(TypeError, match=r"drop=\['labels'\]"):
            guard(labeled, drop="labels")

    def test_remap_given_as_pairs(self, labeled):
        with pytest.raises(TypeError, match="remap takes a dict"):
            guard(labeled, remap=[("labels", "label_ids")])

    def test_unknown_on_unknown(self, labeled):
        with pytest.raises(ValueError, match="on_unknown must be one of 'drop', 'warn', 'raise'"):
            guard(labeled, on_unknown="ignore")

    @pytest.mark.parametrize("target", [42, (Labeled, 3)])
    def test_bad_target(self, labeled, target):
        with pytest.raises(TypeError, match="target takes a class"):
            guard(Outer(labeled), target=target)

    def test_target_that_matches_nothing_lists_what_is_there(self, labeled):
        with pytest.raises(LookupError, match=r"matched no module inside Outer.*Labeled, Linear, Outer"):
            guard(Outer(labeled), target=torch.nn.Embedding)

    def test_conflicting_stacked_remaps(self, labeled):
        guard(labeled, remap={"labels": "label_ids"})
        with pytest.raises(ValueError, match="both to 'label_ids' and to 'attention_mask'"):
            with patched(labeled, remap={"labels": "attention_mask"}):
                pass


def test_a_method_guarded_at_definition_does_not_offer_self_as_a_keyword():
    with pytest.raises(ValueError) as caught:

        class Net(torch.nn.Module):
            @kwarg_guard(remap={"labels": "targets"})
            def forward(self, x, label_ids=None):
                return x

    message = str(caught.value)
    assert "accepted keywords: label_ids, x" in message and "self" not in message.split("accepted keywords:")[1]


class TestEqualOptions:
    def test_the_same_dict_in_another_order_is_the_same_guard(self, labeled):
        guard(labeled, remap={"labels": "label_ids", "mask": "attention_mask"}, drop=["a", "b"])
        guard(labeled, remap={"mask": "attention_mask", "labels": "label_ids"}, drop=["b", "a"])
        assert len(layers_of(labeled)) == 1

    def test_rules_compare_by_value(self):
        assert Rules.from_options({"b": "a", "d": "c"}) == Rules.from_options({"d": "c", "b": "a"})
        assert hash(Rules.from_options({"b": "a", "d": "c"})) == hash(Rules.from_options({"d": "c", "b": "a"}))

    def test_two_sources_for_one_target_the_first_passed_wins_whatever_the_option_order(self, labeled, x):
        for remap in ({"labels": "label_ids", "label": "label_ids"}, {"label": "label_ids", "labels": "label_ids"}):
            with patched(labeled, remap=remap):
                assert labeled(x, labels=1, label=2)[1] == 1
                assert labeled(x, label=2, labels=1)[1] == 2
