"""Keywords libraries renamed: the hint names the parameter the forward takes, and ``renames=True``
moves the value there, in whichever direction the forward needs."""

from __future__ import annotations

import warnings

import pytest
import torch

from kwarg_guard import explain, guard, kwarg_guard, patched, report
from kwarg_guard._renames import renames_for, siblings
from kwarg_guard.errors import UnexpectedKeywordWarning


class OldForward(torch.nn.Module):
    """A custom forward written before transformers 5.24 renamed past_key_values to cache."""

    def forward(self, input_ids, past_key_values=None, num_logits_to_keep=0):
        return input_ids, past_key_values, num_logits_to_keep


class NewForward(torch.nn.Module):
    def forward(self, input_ids, cache=None, logits_to_keep=0, **kwargs):
        return input_ids, cache, logits_to_keep, kwargs


class TestTable:
    def test_renames_chain_across_releases(self):
        assert {"past_key_value", "cache"} <= siblings("past_key_values")

    def test_a_forward_naming_one_member_of_a_group_receives_the_others(self):
        remap = renames_for(frozenset({"input_ids", "past_key_values"}))
        assert remap["cache"] == "past_key_values" and remap["past_key_value"] == "past_key_values"

    def test_a_forward_naming_two_members_needs_no_rename(self):
        # A deprecate_kwarg wrapper takes the old name, the forward the new one.
        assert "cache" not in renames_for(frozenset({"past_key_values", "cache"}))


class TestHints:
    def test_the_warning_names_the_renamed_parameter_not_a_look_alike(self):
        model = guard(OldForward())
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            model(1, cache=5)
        (warning,) = [w for w in caught if issubclass(w.category, UnexpectedKeywordWarning)]
        assert "did you mean 'past_key_values'" in str(warning.message)

    def test_the_error_offers_renames_true(self):
        model = guard(OldForward(), on_unknown="raise")
        with pytest.raises(
            TypeError, match=r"did you mean 'past_key_values'.*renames=True \(or remap=\{'cache': 'past_key_values'\}\)"
        ):
            model(1, cache=5)

    def test_explain_fix_remaps_to_the_renamed_parameter(self):
        explanation = explain(OldForward(), 1, cache=5)
        assert explanation.fixes == ("guard(model, target='OldForward', remap={'cache': 'past_key_values'})",)


class TestRenamesOption:
    def test_an_old_forward_receives_the_new_name(self):
        model = guard(OldForward(), renames=True)
        assert model(1, cache=5, logits_to_keep=2) == (1, 5, 2)
        assert report(model).find("cache", "remapped").target == "past_key_values"

    def test_a_new_forward_receives_the_old_name_even_through_its_kwargs(self):
        # Without the option, **kwargs would swallow the old names and the forward never sees them.
        plain = NewForward()
        assert plain(1, past_key_values=5, num_logits_to_keep=2) == (
            1,
            None,
            0,
            {"past_key_values": 5, "num_logits_to_keep": 2},
        )
        with patched(plain, renames=True):
            assert plain(1, past_key_values=5, num_logits_to_keep=2) == (1, 5, 2, {})

    def test_an_explicit_value_under_the_target_name_wins(self):
        model = guard(OldForward(), renames=True)
        assert model(1, past_key_values=7, cache=5) == (1, 7, 0)

    def test_an_explicit_remap_or_drop_wins_over_a_rename(self):
        model = guard(OldForward(), renames=True, drop=["cache"])
        assert model(1, cache=5) == (1, None, 0)

    def test_the_decorator_takes_it_too(self):
        @kwarg_guard(renames=True)
        def forward(input_ids, logits_to_keep=0):
            return logits_to_keep

        assert forward(1, num_logits_to_keep=3) == 3

    def test_renames_must_be_a_bool(self):
        with pytest.raises(TypeError, match="renames takes True or False"):
            guard(OldForward(), renames="yes")


def test_the_renames_preset_applies_them():
    model = guard(OldForward(), preset="renames")
    assert model(1, cache=5) == (1, 5, 0)


class ForwardWithKwargs(torch.nn.Module):
    """A custom attention written for past_key_values whose **kwargs would swallow ``cache``."""

    def forward(self, hidden, past_key_values=None, **kwargs):
        return past_key_values


class TestRenamedIntoPlainKwargs:
    def test_the_default_guard_warns_that_the_kwargs_will_ignore_it(self):
        model = guard(ForwardWithKwargs())
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            assert model(1, cache=5) is None
        (warning,) = [w for w in caught if issubclass(w.category, UnexpectedKeywordWarning)]
        assert "will be ignored by" in str(warning.message) and "did you mean 'past_key_values'" in str(warning.message)

    def test_raise_mode_refuses_it(self):
        with pytest.raises(TypeError, match=r"'cache'.*renames=True"):
            guard(ForwardWithKwargs(), on_unknown="raise")(1, cache=5)

    def test_renames_true_delivers_it(self):
        assert guard(ForwardWithKwargs(), renames=True)(1, cache=5) == 5

    def test_other_keywords_still_pass_into_the_kwargs_silently(self, recwarn):
        guard(ForwardWithKwargs())(1, anything=5)
        assert not [w for w in recwarn if issubclass(w.category, UnexpectedKeywordWarning)]


def test_explain_drops_a_none_instead_of_remapping_it_to_a_look_alike():
    class Decoder(torch.nn.Module):
        def forward(self, input_ids, encoder_attention_mask=None):
            return input_ids

    explanation = explain(Decoder(), 1, decoder_attention_mask=None)
    assert explanation.fixes == ("guard(model, target='Decoder', drop=['decoder_attention_mask'])",)
