"""guard_every: every instance of a class guarded as it is built, and the class restored exactly."""

from __future__ import annotations

import pytest
import torch
from transformers import BertConfig, BertLMHeadModel, BertModel, PreTrainedModel

from kwarg_guard import UnexpectedKeywordError, guard_every, report, unguard


def tiny_bert_config(**extra):
    return BertConfig(
        vocab_size=64, hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32, **extra
    )


def guarded(module: torch.nn.Module) -> bool:
    return "forward" in vars(module)


def class_state(*classes: type) -> list:
    """What each class holds itself for the two hooked methods, by identity."""
    return [(cls, name, vars(cls).get(name)) for cls in classes for name in ("post_init", "__init__")]


INPUT_IDS = torch.tensor([[1, 2, 3, 4]])


def test_a_model_and_the_model_inside_it_are_both_guarded():
    with guard_every(PreTrainedModel, on_unknown="raise") as every:
        model = BertLMHeadModel(tiny_bert_config(is_decoder=True)).eval()
    assert guarded(model)
    assert guarded(model.bert)
    assert every.count == 2
    assert set(every.models) == {model, model.bert}
    with pytest.raises(UnexpectedKeywordError, match="junk"):
        model(input_ids=INPUT_IDS, junk=1)
    assert model(input_ids=INPUT_IDS, labels=INPUT_IDS).loss is not None


def test_the_options_are_guards_and_report_sees_them():
    with guard_every(BertModel, drop=["token_type_ids"], on_unknown="drop"):
        model = BertModel(tiny_bert_config()).eval()
    model(input_ids=INPUT_IDS, token_type_ids=torch.zeros_like(INPUT_IDS), junk=1)
    dropped = {record.keyword for record in report(model)}
    assert {"token_type_ids", "junk"} <= dropped


def test_models_built_after_removal_are_not_guarded_and_earlier_ones_stay_guarded():
    before = class_state(PreTrainedModel, BertModel)
    every = guard_every(PreTrainedModel, on_unknown="raise")
    built_during = BertModel(tiny_bert_config())
    every.remove()
    every.remove()  # a second remove does nothing
    assert class_state(PreTrainedModel, BertModel) == before
    assert not guarded(BertModel(tiny_bert_config()))
    assert guarded(built_during)
    assert not guarded(unguard(built_during))


def test_nested_guards_both_apply_and_unwind_in_any_order():
    before = class_state(PreTrainedModel, BertModel)
    outer = guard_every(PreTrainedModel, on_unknown="raise")
    inner = guard_every(BertModel, drop=["junk"])
    both = BertModel(tiny_bert_config()).eval()
    assert (outer.count, inner.count) == (1, 1)
    both(input_ids=INPUT_IDS, junk=1)  # the inner guard drops junk before the raising outer guard sees it
    outer.remove()  # the outer one first: the inner one keeps working
    only_inner = BertModel(tiny_bert_config())
    assert (outer.count, inner.count) == (1, 2)
    assert guarded(only_inner)
    inner.remove()
    assert class_state(PreTrainedModel, BertModel) == before
    assert not guarded(BertModel(tiny_bert_config()))


def test_an_exception_in_the_block_still_restores_the_class():
    before = class_state(PreTrainedModel)
    with pytest.raises(RuntimeError, match="inside"), guard_every(PreTrainedModel):
        raise RuntimeError("inside")
    assert class_state(PreTrainedModel) == before


class Head(torch.nn.Module):
    def forward(self, x, label_ids=None):
        return label_ids


class Base(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.first = torch.nn.Linear(2, 2)


class Child(Base):
    """Builds its head after super().__init__(): a guard at the end of Base.__init__ would miss it."""

    def __init__(self):
        super().__init__()
        self.head = Head()

    def forward(self, x, **kwargs):
        return self.head(x, **kwargs)


def test_a_plain_module_base_is_guarded_when_the_outermost_init_returns():
    before = class_state(Base, Child)
    with guard_every(Base, target=Head, remap={"labels": "label_ids"}) as every:
        child = Child()
        base = Base()  # holds no Head: target picks nothing in it, so it is left alone
    assert guarded(child.head)
    assert child(1, labels=5) == 5
    assert not guarded(base)
    assert every.count == 1
    assert class_state(Base, Child) == before


def test_a_base_that_is_not_a_module_class_is_one_clear_error():
    with pytest.raises(TypeError, match=r"base must be a torch.nn.Module subclass, got a Linear instance"):
        guard_every(torch.nn.Linear(2, 2))  # type: ignore[arg-type]


def test_bad_options_fail_before_anything_is_hooked():
    before = class_state(PreTrainedModel)
    with pytest.raises(ValueError, match="on_unknown"):
        guard_every(PreTrainedModel, on_unknown="ignore")  # type: ignore[arg-type]
    assert class_state(PreTrainedModel) == before


def test_a_subclass_defined_after_the_start_is_guarded_when_its_base_init_returns():
    with guard_every(Base, on_unknown="raise"):

        class Late(Base):
            def __init__(self):
                super().__init__()
                self.late = torch.nn.Linear(2, 2)

            def forward(self, x):
                return x

        late = Late()
    assert guarded(late)
    with pytest.raises(UnexpectedKeywordError, match="junk"):
        late(1, junk=2)
    assert not guarded(Late())


def test_a_model_that_only_hands_keywords_on_is_left_alone_and_the_model_inside_is_guarded():
    from transformers import WhisperConfig, WhisperForCausalLM

    config = WhisperConfig(
        vocab_size=64, d_model=16, decoder_layers=1, decoder_attention_heads=2, decoder_ffn_dim=32,
        encoder_layers=1, encoder_attention_heads=2, encoder_ffn_dim=32, max_target_positions=16,
        num_mel_bins=8, max_source_positions=8, pad_token_id=0, bos_token_id=1, eos_token_id=2, decoder_start_token_id=1,
    )  # fmt: skip
    with guard_every(PreTrainedModel, on_unknown="raise") as every:
        model = WhisperForCausalLM(config).eval()  # holds a WhisperDecoderWrapper: forward(*args, **kwargs)
    wrapper = model.model
    assert not guarded(wrapper)
    assert guarded(wrapper.decoder)
    assert guarded(model)
    assert every.count == 2
    with pytest.raises(UnexpectedKeywordError, match="junk"):
        wrapper(input_ids=INPUT_IDS, junk=1)
