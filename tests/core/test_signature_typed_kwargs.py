"""transformers 5: forwards declare **kwargs: Unpack[TransformersKwargs] and swallow any keyword.
A keyword outside the named parameters and the TypedDict's keys is *undeclared*: it passes (the
model accepts it) but is reported once as ignored; "raise" mode refuses it."""

import functools
import importlib
import logging
import textwrap

import pytest
import torch
from typing_extensions import TypedDict, Unpack

from kwarg_guard import UnexpectedKeywordError, UnexpectedKeywordWarning, explain, guard, kwarg_guard, patched, report
from kwarg_guard._signature import accepted_keywords
from tests.helpers import only_transformers_5
from tests.helpers.tiny_configs import tiny_llama_config


class Extra(TypedDict, total=False):
    output_attentions: bool


class Typed(torch.nn.Module):
    def forward(self, x, **kwargs: Unpack[Extra]):
        return x, kwargs


class TestSyntheticTypedForward:
    def test_declared_keys_pass_silently(self, caplog):
        model = Typed()
        with caplog.at_level(logging.INFO, logger="kwarg_guard"), patched(model, on_unknown="raise"):
            assert model(1, output_attentions=True) == (1, {"output_attentions": True})
        assert not caplog.records and list(report(model)) == []

    def test_undeclared_keyword_passes_and_is_reported_once_as_ignored(self, caplog):
        model = Typed()
        with caplog.at_level(logging.INFO, logger="kwarg_guard"), patched(model):
            for _ in range(3):
                assert model(1, labels=5) == (1, {"labels": 5})
        (message,) = [r.getMessage() for r in caplog.records if r.name == "kwarg_guard"]
        assert "'labels' (int) will be ignored by Typed.forward()" in message
        record = report(model).find("labels")
        assert (record.action, record.count) == ("ignored by forward", 3)

    def test_raise_mode_refuses_an_undeclared_keyword(self):
        model = Typed()
        with (
            patched(model, on_unknown="raise"),
            pytest.raises(UnexpectedKeywordError, match=r"'labels' \(its \*\*kwargs would ignore it\)"),
        ):
            model(1, labels=5)

    def test_warn_mode_warns_when_an_ignored_keyword_carries_a_value(self):
        @kwarg_guard(on_unknown="warn")
        def forward(x, **kwargs: Unpack[Extra]):
            return kwargs

        with pytest.warns(UnexpectedKeywordWarning, match="will be ignored by"):
            assert forward(1, labels=torch.ones(1))["labels"] is not None

    def test_remap_onto_an_undeclared_name_is_refused(self):
        with pytest.raises(ValueError, match="does not accept 'label_ids'"):
            patched(Typed(), remap={"labels": "label_ids"}).__enter__()


@only_transformers_5
class TestRealTransformers5Model:
    @pytest.fixture
    def llama(self):
        from transformers import LlamaModel

        torch.manual_seed(0)
        config = tiny_llama_config(pad_token_id=None)
        return LlamaModel(config).eval()

    def test_llama_swallows_labels_silently_unguarded(self, llama):
        ids = torch.randint(0, 64, (1, 4))
        assert torch.equal(
            llama(input_ids=ids, labels=ids, bogus=1).last_hidden_state, llama(input_ids=ids).last_hidden_state
        )

    def test_the_guard_reads_the_typed_dict_and_reports_what_it_swallows(self, llama):
        from kwarg_guard._signature import accepted_keywords

        accepted = accepted_keywords(llama.forward)
        assert accepted.declared and {"output_attentions", "position_ids", "num_items_in_batch"} <= accepted.declared
        ids = torch.randint(0, 64, (1, 4))
        with patched(llama):
            llama(input_ids=ids, labels=ids, output_hidden_states=True)
        assert report(llama).find("labels").action == "ignored by forward"
        assert report(llama).find("output_hidden_states") is None
        with patched(llama, on_unknown="raise"), pytest.raises(UnexpectedKeywordError, match="'labels'"):
            llama(input_ids=ids, labels=ids)


def returns_tuple_on_request(func):
    """Like transformers 5's @can_return_tuple: takes return_dict before the inner forward runs."""

    @functools.wraps(func)
    def wrapper(self, *args, **kwargs):
        return_dict = kwargs.pop("return_dict", True)
        output = func(self, *args, **kwargs)
        return output if return_dict else (output,)

    return wrapper


class Decorated(torch.nn.Module):
    @returns_tuple_on_request
    def forward(self, x, **kwargs: Unpack[Extra]):
        return x


class TestKeywordsADecoratorConsumes:
    def test_are_accepted_even_in_raise_mode(self, caplog):
        model = Decorated()
        with caplog.at_level(logging.INFO, logger="kwarg_guard"), patched(model, on_unknown="raise"):
            assert model(1, return_dict=False) == (1,)
        assert list(report(model)) == [] and not caplog.records

    def test_what_the_decorator_does_not_consume_is_still_refused(self):
        with patched(Decorated(), on_unknown="raise") as model, pytest.raises(UnexpectedKeywordError, match="'labels'"):
            model(1, labels=2)

    def test_accepted_keywords_name_them(self):
        assert accepted_keywords(Decorated().forward).consumed == {"return_dict"}


POSTPONED = """
    from __future__ import annotations

    import torch
    from typing_extensions import TypedDict, Unpack


    class Extra(TypedDict, total=False):
        output_attentions: bool


    class Postponed(torch.nn.Module):
        def forward(self, x, **kwargs: Unpack[Extra]):
            return x, kwargs


    class Unresolvable(torch.nn.Module):
        def forward(self, x, **kwargs: Unpack[NotDefinedAnywhere]):
            return x, kwargs
"""


@pytest.fixture
def postponed(tmp_path, monkeypatch):
    (tmp_path / "postponed_forwards.py").write_text(textwrap.dedent(POSTPONED))
    monkeypatch.syspath_prepend(str(tmp_path))
    return importlib.import_module("postponed_forwards")


class TestPostponedAnnotations:
    def test_typed_kwargs_are_read_from_a_string_annotation(self, postponed):
        accepted = accepted_keywords(postponed.Postponed().forward)
        assert accepted.declared == {"output_attentions"} and not accepted.takes_anything

    def test_raise_mode_refuses_an_undeclared_keyword(self, postponed):
        model = guard(postponed.Postponed(), on_unknown="raise")
        assert model(1, output_attentions=True) == (1, {"output_attentions": True})
        with pytest.raises(UnexpectedKeywordError, match="'labels'"):
            model(1, labels=2)

    def test_an_unresolvable_annotation_falls_back_and_says_why(self, postponed, caplog):
        with caplog.at_level(logging.WARNING, logger="kwarg_guard"):
            accepted = accepted_keywords(postponed.Unresolvable().forward)
        assert accepted.takes_anything
        (message,) = [r.getMessage() for r in caplog.records if r.name == "kwarg_guard"]
        assert "Unresolvable.forward" in message and "NotDefinedAnywhere" in message and "plain **kwargs" in message

    def test_nothing_in_an_annotation_is_called(self, tmp_path, monkeypatch, caplog):
        (tmp_path / "calls_in_annotation.py").write_text(
            textwrap.dedent("""
            from __future__ import annotations
            CALLED = []
            def side_effect():
                CALLED.append(1)
            def forward(x, **kwargs: side_effect()):
                return x
        """)
        )
        monkeypatch.syspath_prepend(str(tmp_path))
        module = importlib.import_module("calls_in_annotation")
        with caplog.at_level(logging.WARNING, logger="kwarg_guard"):
            assert accepted_keywords(module.forward).takes_anything
        assert module.CALLED == [] and "not a plain type expression" in caplog.text


@only_transformers_5
class TestTransformers5Decorators:
    @pytest.fixture
    def causal_lm(self):
        from transformers import LlamaForCausalLM

        torch.manual_seed(0)
        return LlamaForCausalLM(tiny_llama_config()).eval()

    def test_generate_works_under_a_raise_mode_guard(self, causal_lm):
        ids = torch.randint(1, 64, (1, 5))
        expected = causal_lm.generate(ids, max_new_tokens=3, do_sample=False)
        with patched(causal_lm, on_unknown="raise"):
            assert torch.equal(causal_lm.generate(ids, max_new_tokens=3, do_sample=False), expected)

    def test_return_dict_false_still_returns_a_tuple(self, causal_lm):
        ids = torch.randint(1, 64, (1, 5))
        with patched(causal_lm, on_unknown="raise"):
            assert isinstance(causal_lm(input_ids=ids, return_dict=False), tuple)
        assert list(report(causal_lm)) == []

    def test_explain_says_the_keyword_is_swallowed_and_how_to_fix_it(self, causal_lm):
        ids = torch.randint(1, 64, (1, 5))
        explanation = explain(causal_lm, input_ids=ids, token_type_ids=torch.zeros_like(ids))
        row = explanation.find("LlamaForCausalLM.forward", "token_type_ids")
        assert row.unguarded == "silently ignored by forward"
        assert row.guarded == "passes; ignored by forward with a warning"
        assert explanation.fixes == ("guard(model, target='LlamaForCausalLM', drop=['token_type_ids'])",)

    def test_explain_on_distilbert_token_type_ids(self):
        from transformers import DistilBertConfig, DistilBertModel

        model = DistilBertModel(DistilBertConfig(vocab_size=64, dim=16, hidden_dim=32, n_layers=1, n_heads=2))
        ids = torch.randint(1, 64, (1, 5))
        row = explain(model, input_ids=ids, token_type_ids=torch.zeros_like(ids)).find(
            "DistilBertModel.forward", "token_type_ids"
        )
        assert row.unguarded == "silently ignored by forward"
