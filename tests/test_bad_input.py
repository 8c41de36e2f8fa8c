"""Bad input: a clear error naming the problem and the fix, and nothing left half-patched."""

import pytest
import torch
from conftest import Labeled, Outer, plain_attributes

from kwarg_guard import guard, kwarg_guard, patched, unguard
from kwarg_guard.presets import Preset, available_presets, get_preset, register_preset


class TestPresets:
    def test_unknown_preset_lists_the_known_ones(self, labeled):
        with pytest.raises(ValueError, match=r"unknown preset 'nope'; known presets: .*higgs_audio"):
            guard(labeled, preset="nope")

    def test_unknown_preset_on_every_door(self, labeled):
        with pytest.raises(ValueError, match="unknown preset"):
            patched(labeled, preset="nope")
        with pytest.raises(ValueError, match="unknown preset"):
            kwarg_guard(lambda x: x, preset="nope")

    def test_registry_refuses_a_silent_overwrite(self):
        with pytest.raises(ValueError, match="already registered"):
            register_preset(Preset(name="higgs_audio", description="clash"))
        assert get_preset("higgs_audio").description != "clash"

    def test_a_registered_preset_is_data_for_the_same_rewrite(self, x):
        register_preset(
            Preset(name="test_labels", description="t", remap={"labels": "label_ids"}, target=Labeled), replace=True
        )
        model = Outer(Labeled())
        with patched(model, preset="test_labels"):
            assert model(x, labels=4)[1] == 4
        assert "test_labels" in available_presets()

    def test_explicit_options_override_the_preset(self, x):
        register_preset(Preset(name="test_strict", description="t", on_unknown="raise", target=Labeled), replace=True)
        model = Outer(Labeled())
        with patched(model, preset="test_strict", on_unknown="drop"):
            model(x)


class TestNotAModule:
    @pytest.mark.parametrize("door", [patched, guard])
    def test_non_module_is_a_type_error_that_points_to_the_right_door(self, door):
        with pytest.raises(TypeError, match=r"takes a torch.nn.Module, got function.*@kwarg_guard"):
            door(lambda x: x)

    def test_unguard_says_what_it_takes_not_how_to_guard(self):
        with pytest.raises(TypeError) as caught:
            unguard("x")
        assert "got str; unguard takes a model guarded with guard(...)" in str(caught.value)
        assert "@kwarg_guard or" not in str(caught.value)

    def test_kwarg_guard_on_a_non_callable(self):
        with pytest.raises(TypeError, match="takes a function, a class or a module"):
            kwarg_guard(42)


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


def test_a_method_guarded_at_definition_does_not_offer_self_as_a_keyword():
    with pytest.raises(ValueError) as caught:

        class Net(torch.nn.Module):
            @kwarg_guard(remap={"labels": "targets"})
            def forward(self, x, label_ids=None):
                return x

    message = str(caught.value)
    assert "accepted keywords: label_ids, x" in message and "self" not in message.split("accepted keywords:")[1]
