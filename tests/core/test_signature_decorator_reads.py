"""Keywords a decorator around a forward reads for itself, however it names them.

transformers 5 wraps model forwards in decorators that pop keywords out of ``**kwargs`` before
the forward runs: ``@capture_outputs`` pops ``return_dict`` from a ``kwargs`` that a comprehension
also uses (so every read of it is a closure-cell load), and ``@deprecate_kwarg(old, new_name=new)``
reads the old name from a closure variable. A guard in raise mode must accept them all.
"""

from __future__ import annotations

import functools

import pytest
import torch

from kwarg_guard import UnexpectedKeywordWarning, guard
from kwarg_guard._signature import accepted_keywords
from tests.helpers import only_transformers_4, only_transformers_5
from tests.helpers.tiny_configs import tiny_config, tiny_llama_config


def pops_from_a_cell(func):
    """Like ``@capture_outputs``: ``kwargs`` is a cell because the comprehension reads it too."""

    @functools.wraps(func)
    def wrapper(self, *args, **kwargs):
        return_dict = kwargs.pop("return_dict", True)
        flags = {name: kwargs.get(name) for name in ("output_attentions",)}
        output = func(self, *args, **kwargs)
        return output if return_dict and flags is not None else (output,)

    return wrapper


def renames_keyword(old_name, new_name):
    """Like ``@deprecate_kwarg(old_name, new_name=new_name)``: the names live in closure variables."""

    def decorator(func):
        @functools.wraps(func)
        def wrapped(*args, **kwargs):
            if old_name in kwargs and new_name not in kwargs:
                kwargs[new_name] = kwargs.pop(old_name)
            return func(*args, **kwargs)

        return wrapped

    return decorator


def guard_each_model_inside(model):
    """``guard(..., on_unknown="raise")`` on ``model`` and every transformers model it holds."""
    from transformers import PreTrainedModel

    for module in model.modules():
        if isinstance(module, PreTrainedModel):
            guard(module, on_unknown="raise")


class Decorated(torch.nn.Module):
    @pops_from_a_cell
    @renames_keyword("past_key_values", "cache")
    def forward(self, x, cache=None, output_attentions=None):
        return x if cache is None else x + cache


class TestDecoratorReads:
    def test_a_keyword_popped_from_a_closure_cell_is_accepted(self):
        accepted = accepted_keywords(Decorated().forward)
        assert "return_dict" in accepted.consumed

    def test_a_keyword_named_by_a_closure_variable_is_accepted(self):
        accepted = accepted_keywords(Decorated().forward)
        assert "past_key_values" in accepted.consumed

    def test_a_pop_stored_under_another_name_is_a_rename(self):
        assert ("past_key_values", "cache") in accepted_keywords(Decorated().forward).renames

    def test_raise_mode_passes_both_to_the_decorators(self):
        model = guard(Decorated(), on_unknown="raise")
        assert model(1, past_key_values=2, return_dict=False) == (3,)


@only_transformers_5
class TestTransformers5ModelsUnderRaiseMode:
    def test_bert_lm_head_passes_return_dict_to_its_guarded_bert_model(self):
        from transformers import BertConfig, BertLMHeadModel

        config = tiny_config(BertConfig, intermediate_size=16, is_decoder=True)
        model = BertLMHeadModel(config).eval()
        ids = torch.tensor([[1, 2, 3]])
        expected = model(input_ids=ids).logits
        guard_each_model_inside(model)
        assert torch.equal(model(input_ids=ids).logits, expected)
        assert torch.equal(model(input_ids=ids, return_dict=False)[0], expected)

    def test_the_deprecated_past_key_values_is_accepted_and_used(self):
        from transformers import DynamicCache, GPT2Config, GPT2LMHeadModel

        torch.manual_seed(0)
        model = GPT2LMHeadModel(GPT2Config(n_embd=16, n_layer=1, n_head=2, vocab_size=64)).eval()
        guard(model, on_unknown="raise")
        ids = torch.tensor([[1, 2, 3]])
        cache = DynamicCache(config=model.config)
        model(input_ids=ids, past_key_values=cache, use_cache=True)
        assert cache.get_seq_length() == 3

    def test_t5_generate_runs_under_raise_mode(self):
        from transformers import T5Config, T5ForConditionalGeneration

        torch.manual_seed(0)
        config = T5Config(
            vocab_size=64, d_model=16, d_kv=4, d_ff=16, num_layers=1, num_heads=2, decoder_start_token_id=0
        )
        model = T5ForConditionalGeneration(config).eval()
        ids = torch.tensor([[1, 2, 3]])
        expected = model.generate(ids, max_new_tokens=3, do_sample=False)
        guard_each_model_inside(model)
        assert torch.equal(model.generate(ids, max_new_tokens=3, do_sample=False), expected)

    def test_documented_keywords_are_not_warned_about_in_default_mode(self, recwarn):
        from transformers import BertConfig, BertModel

        config = tiny_config(BertConfig, intermediate_size=16)
        model = guard(BertModel(config).eval())
        model(input_ids=torch.tensor([[1, 2]]), return_dict=True, output_hidden_states=True)
        assert not [w for w in recwarn if "kwarg_guard" in str(w.category.__module__)]


@only_transformers_4
class TestLossKwargs:
    @pytest.fixture
    def llama(self):
        from transformers import LlamaForCausalLM

        torch.manual_seed(0)
        config = tiny_llama_config()
        return LlamaForCausalLM(config)

    def test_loss_kwargs_declare_what_the_loss_function_takes(self, llama):
        assert accepted_keywords(llama.forward).declared == {"num_items_in_batch", "ignore_index"}

    def test_num_items_in_batch_reaches_the_loss_under_raise_mode(self, llama):
        ids = torch.tensor([[1, 2, 3, 4]])
        expected = llama(input_ids=ids, labels=ids, num_items_in_batch=torch.tensor(1)).loss
        guard(llama, on_unknown="raise")
        assert torch.equal(llama(input_ids=ids, labels=ids, num_items_in_batch=torch.tensor(1)).loss, expected)

    def test_a_keyword_nothing_downstream_takes_is_refused_with_a_hint(self, llama):
        guard(llama, on_unknown="raise")
        with pytest.raises(TypeError, match=r"'num_items_in_bach'.*did you mean 'num_items_in_batch'"):
            llama(input_ids=torch.tensor([[1, 2]]), num_items_in_bach=1)


@only_transformers_5
def test_a_head_accepts_what_its_loss_function_takes_under_raise_mode():
    # transformers' own test_causal_lm_loss_honors_shift_labels passes shift_labels to the head.
    from transformers import LlamaForCausalLM

    torch.manual_seed(0)
    config = tiny_llama_config()
    model = LlamaForCausalLM(config)
    ids = torch.tensor([[1, 2, 3, 4]])
    shifted = torch.tensor([[2, 3, 4, -100]])
    expected = model(input_ids=ids, labels=ids, shift_labels=shifted).loss
    guard(model, on_unknown="raise")
    assert torch.equal(model(input_ids=ids, labels=ids, shift_labels=shifted).loss, expected)


@only_transformers_5
class TestKeywordsHandedOnInsideTheModel:
    """A head hands its **kwargs to the model inside it: what the guarded head took is not the
    inner guard's to refuse (transformers' own test_causal_lm_loss_honors_shift_labels)."""

    @pytest.fixture
    def llama(self):
        from transformers import LlamaForCausalLM

        torch.manual_seed(0)
        return LlamaForCausalLM(tiny_llama_config())

    def _call(self, model):
        ids = torch.tensor([[1, 2, 3, 4]])
        return model(input_ids=ids, labels=ids, shift_labels=torch.tensor([[2, 3, 4, -100]])).loss

    def test_every_model_guarded_in_raise_mode_passes_it_through(self, llama):
        expected = self._call(llama)
        guard(llama, on_unknown="raise")
        guard(llama.model, on_unknown="raise")
        assert torch.equal(self._call(llama), expected)

    def test_the_inner_guard_does_not_warn_about_it_either(self, llama, recwarn):
        guard(llama)
        guard(llama.model)
        self._call(llama)
        assert not [w for w in recwarn if issubclass(w.category, UnexpectedKeywordWarning)]

    def test_a_guard_on_the_inner_model_alone_still_refuses_it(self, llama):
        # Nothing guarded took it on the way in: for this guard it enters here.
        guard(llama.model, on_unknown="raise")
        with pytest.raises(TypeError, match="'shift_labels'"):
            self._call(llama)


@only_transformers_5
def test_generate_passes_use_cache_to_a_model_that_hands_it_on_under_raise_mode():
    # LlavaForConditionalGeneration names no use_cache; its language model reads it.
    from transformers import CLIPVisionConfig, LlavaConfig, LlavaForConditionalGeneration

    torch.manual_seed(0)
    vision = CLIPVisionConfig(
        hidden_size=16, intermediate_size=16, num_hidden_layers=1, num_attention_heads=2, image_size=8, patch_size=4
    )
    config = LlavaConfig(vision_config=vision, text_config=tiny_llama_config(), image_token_index=63)
    model = LlavaForConditionalGeneration(config).eval()
    ids = torch.tensor([[1, 2, 3]])
    expected = model.generate(ids, max_new_tokens=2, do_sample=False)
    guard_each_model_inside(model)
    assert torch.equal(model.generate(ids, max_new_tokens=2, do_sample=False), expected)
