"""Builders for tests/integration/test_reported_injections.py: the real components of each reported injection
(tiny random configs of real transformers models, real PEFT wrappers, real ``generate()`` and
Trainer), and the one line docs/troubleshooting.md tells the user to write for each kind.

Each builder returns fresh objects with fixed seeds, so an unguarded model, a guarded one and a
clean reference compute the same thing except for the keyword under test.
"""

from __future__ import annotations

import os
import tempfile

import torch
import transformers
from transformers import LlamaForCausalLM
from transformers.models.llama.modeling_llama import LlamaAttention

from kwarg_guard import guard
from tests.helpers import cpu_training_args
from tests.helpers.compat_cases import _ids, _peft
from tests.helpers.tiny_configs import tiny_config, tiny_llama_config, tiny_t5_config

TRANSFORMERS_5 = int(transformers.__version__.split(".")[0]) >= 5

# The line docs/troubleshooting.md gives for each kind of injection, run by the tests exactly as
# written (see ``apply_documented_fix``); the docs test checks each one is on the page.
DOCUMENTED_FIXES = {
    "task wrapper on a headless model": 'guard(peft_model, preset="peft_headless")',
    "seq2seq wrapper on a decoder-only model": "guard(peft_model)",
    "generate() into an older forward": "guard(model, renames=True)",
    "renamed keyword swallowed by **kwargs": "guard(model, target=CustomAttention, renames=True)",
    "renamed keyword into a transformers forward": "guard(model, renames=True)",
    "tokenizer keyword the model lacks": 'guard(model, drop=["token_type_ids"])',
    # Not written by hand: the fix ``explain`` prints for the Trainer's keyword, pasted.
    "trainer keyword through your **kwargs": "guard(model, target='SentenceEncoder', drop=['num_items_in_batch'])",
    "an old script's label names": 'guard(model, preset="renames")',
}


def apply_documented_fix(kind: str, **names):
    """Run the documented line for ``kind`` with ``names`` (``model``, ``peft_model``, ...) bound."""
    return eval(DOCUMENTED_FIXES[kind], {"guard": guard, **names})


def seeded(build, seed=0):
    torch.manual_seed(seed)
    return build()


def tiny_bert_config(**extra):
    from transformers import BertConfig

    return tiny_config(BertConfig, max_position_embeddings=32, **extra)


def bert_tokenizer():
    """A real BERT WordPiece tokenizer over a ten-word vocabulary: it hands out ``token_type_ids``."""
    from transformers import BertTokenizerFast

    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "hello", "world", "guard", "the", "keyword"]
    folder = tempfile.mkdtemp()
    path = os.path.join(folder, "vocab.txt")
    with open(path, "w") as handle:
        handle.write("\n".join(vocab))
    return BertTokenizerFast(vocab_file=path)


def seq_cls_around_headless_bert():
    """PEFT's SEQ_CLS wrapper around a BertModel with no classification head."""
    from transformers import BertModel

    base = seeded(lambda: BertModel(tiny_bert_config())).eval()
    return _peft(base, "SEQ_CLS", ["query"]).eval()


def seq2seq_around_gpt2():
    """PEFT's SEQ_2_SEQ_LM wrapper around GPT-2, a decoder-only model."""
    from peft import LoraConfig, get_peft_model
    from transformers import GPT2Config, GPT2LMHeadModel

    config = GPT2Config(vocab_size=64, n_embd=16, n_layer=1, n_head=2, n_positions=32, bos_token_id=1, eos_token_id=2)
    base = seeded(lambda: GPT2LMHeadModel(config)).eval()
    # GPT-2 keeps its projections in Conv1D layers: LoRA needs fan_in_fan_out to wrap them.
    lora = LoraConfig(task_type="SEQ_2_SEQ_LM", target_modules=["c_attn"], r=2, fan_in_fan_out=True)
    return seeded(lambda: get_peft_model(base, lora)).eval()


def _llama_config():
    return tiny_llama_config(bos_token_id=1, eos_token_id=2, attn_implementation="eager")


def tiny_llama():
    return seeded(lambda: LlamaForCausalLM(_llama_config())).eval()


class OlderReleaseLlama(LlamaForCausalLM):
    """A causal LM whose forward was written for transformers 4.3x, as remote code on the Hub often
    is: the cache arrives as ``past_key_values``, there is no ``cache_position`` and no ``**kwargs``."""

    def forward(
        self,
        input_ids=None,
        attention_mask=None,
        position_ids=None,
        past_key_values=None,
        inputs_embeds=None,
        labels=None,
        use_cache=None,
        output_attentions=None,
        output_hidden_states=None,
        return_dict=None,
    ):
        return super().forward(
            input_ids=input_ids,
            attention_mask=attention_mask,
            position_ids=position_ids,
            past_key_values=past_key_values,
            inputs_embeds=inputs_embeds,
            labels=labels,
            use_cache=use_cache,
            output_attentions=output_attentions,
            output_hidden_states=output_hidden_states,
            return_dict=return_dict,
        )


def older_release_llama():
    """``OlderReleaseLlama`` with the weights of ``tiny_llama()``."""
    return seeded(lambda: OlderReleaseLlama(_llama_config())).eval()


# The name this release's LlamaAttention takes its cache under.
_PARENTS_CACHE_NAME = "cache" if TRANSFORMERS_5 else "past_key_value"


class CustomAttention(LlamaAttention):
    """An attention written against a release that names the cache ``past_key_values``, with a
    ``**kwargs`` that swallows whatever else the decoder layer passes. It hands the cache on to this
    release's ``LlamaAttention`` under the name that one takes."""

    def forward(self, hidden_states, position_embeddings=None, attention_mask=None, past_key_values=None, **kwargs):
        return super().forward(
            hidden_states,
            position_embeddings=position_embeddings,
            attention_mask=attention_mask,
            **{_PARENTS_CACHE_NAME: past_key_values},
        )


def llama_with_custom_attention():
    """``tiny_llama()`` with every layer's attention a ``CustomAttention`` (same weights)."""
    model = tiny_llama()
    for layer in model.model.layers:
        layer.self_attn.__class__ = CustomAttention
    return model


def greedy(model, ids, steps=8):
    return model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=steps, do_sample=False)


def prompt():
    return _ids(batch=1, length=5)


def text_batch(tokenizer):
    return tokenizer(["hello world", "guard the keyword"], padding=True, return_tensors="pt")


class SentenceEncoder(torch.nn.Module):
    """A backbone whose forward names its parameters and has no ``**kwargs`` (like ModernBertModel
    in the report), built from torch's own transformer layer."""

    def __init__(self):
        super().__init__()
        self.embed = torch.nn.Embedding(64, 16)
        self.layer = torch.nn.TransformerEncoderLayer(16, 2, dim_feedforward=32, dropout=0.0, batch_first=True)

    def forward(self, input_ids, attention_mask=None):
        padding = None if attention_mask is None else attention_mask == 0
        return self.layer(self.embed(input_ids), src_key_padding_mask=padding)


class ScoringModel(torch.nn.Module):
    """A user's model around the backbone: ``forward(self, **kwargs)`` takes the batch as it comes,
    keeps ``labels`` for the loss and hands everything else to the backbone."""

    def __init__(self):
        super().__init__()
        self.backbone = SentenceEncoder()
        self.head = torch.nn.Linear(16, 1)

    def forward(self, **kwargs):
        labels = kwargs.pop("labels", None)
        score = self.head(self.backbone(**kwargs).mean(dim=1)).squeeze(-1)
        loss = None if labels is None else torch.nn.functional.mse_loss(score, labels)
        return {"loss": loss, "score": score}


def scoring_rows(count=8, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return [
        {"input_ids": torch.randint(1, 64, (5,), generator=generator), "labels": torch.rand((), generator=generator)}
        for _ in range(count)
    ]


def train(model, rows, steps=3, seed=0):
    """A few real Trainer steps; returns the trained weights. ``remove_unused_columns=False``: a
    ``forward(**kwargs)`` names no columns, and the Trainer would otherwise remove them all."""
    from transformers import Trainer

    args = cpu_training_args(
        tempfile.mkdtemp(),
        max_steps=steps,
        per_device_train_batch_size=4,
        learning_rate=0.1,
        seed=seed,
        data_seed=seed,
        disable_tqdm=True,
        remove_unused_columns=False,
    )
    Trainer(model=model, args=args, train_dataset=rows).train()
    return {name: p.detach().clone() for name, p in model.named_parameters()}


def distilbert_classifier():
    from transformers import DistilBertConfig, DistilBertForSequenceClassification

    config = DistilBertConfig(vocab_size=64, dim=16, hidden_dim=32, n_layers=1, n_heads=2, num_labels=2)
    return seeded(lambda: DistilBertForSequenceClassification(config)).eval()


def bert_for_masked_lm():
    from transformers import BertForMaskedLM

    return seeded(lambda: BertForMaskedLM(tiny_bert_config())).eval()


def tiny_t5():
    from transformers import T5Config, T5ForConditionalGeneration

    config = tiny_t5_config(T5Config)
    return seeded(lambda: T5ForConditionalGeneration(config)).eval()
