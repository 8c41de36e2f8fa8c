"""transformers 5: forwards declare **kwargs: Unpack[TransformersKwargs] and swallow any keyword.
A keyword outside the named parameters and the TypedDict's keys is *undeclared*: it passes (the
model accepts it) but is reported once as ignored; "raise" mode refuses it."""

import logging

import pytest
import torch
from typing_extensions import TypedDict, Unpack

from conftest import only_transformers_5
from kwarg_guard import UnexpectedKeywordError, UnexpectedKeywordWarning, kwarg_guard, patched, report


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
        with patched(model, on_unknown="raise"), pytest.raises(UnexpectedKeywordError, match=r"'labels' \(its \*\*kwargs would ignore it\)"):
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
        from transformers import LlamaConfig, LlamaModel

        torch.manual_seed(0)
        config = LlamaConfig(vocab_size=64, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                             num_attention_heads=2, num_key_value_heads=1)
        return LlamaModel(config).eval()

    def test_llama_swallows_labels_silently_unguarded(self, llama):
        ids = torch.randint(0, 64, (1, 4))
        assert torch.equal(llama(input_ids=ids, labels=ids, bogus=1).last_hidden_state, llama(input_ids=ids).last_hidden_state)

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
