"""Public "unexpected keyword argument" reports, rebuilt offline with tiny random configs.

Each case builds: the model as the report had it (``wrapped``), the call that injects the
keyword (``plain``), the guard that fixes it, and a *clean* call of the same computation that
never had the bad keyword. ``tests/integration/test_compatibility.py`` runs every case on the stack at hand
and renders docs/compatibility.md from what it observed.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from transformers import MT5ForConditionalGeneration

from kwarg_guard import patched
from tests.helpers import cpu_training_args
from tests.helpers.tiny_configs import tiny_config, tiny_llama_config, tiny_t5_config

HAS_BOSON = importlib.util.find_spec("boson_multimodal") is not None


@dataclass
class Case:
    key: str
    model: str
    wrapper: str
    keyword: str
    reference: str
    build: Callable  # () -> Built
    plain_on: dict = field(default_factory=dict)  # stack -> "raises" | "ignored" | "accepted"
    not_applicable: dict = field(default_factory=dict)  # stack -> reason


@dataclass
class Built:
    model: object  # what report() is asked about
    plain: Callable  # () -> output; the call that injects the keyword
    guard: Callable  # () -> context manager that guards it
    clean: Callable  # () -> output of the same computation without the keyword
    compare: Callable = None  # (guarded output, clean output) -> bool
    guarded_call: Callable = None  # when the guarded run is not plain() again (Trainer cases)


def _ids(batch=2, length=6, vocab=64, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(1, vocab, (batch, length), generator=generator)


def _hidden(output):
    return output.last_hidden_state if hasattr(output, "last_hidden_state") else output[0]


def _peft(model, task_type, targets):
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(0)
    return get_peft_model(model, LoraConfig(task_type=task_type, target_modules=targets, r=2))


def _same(a, b):
    return torch.allclose(a, b, atol=1e-6)


def peft_headless(model_factory, task_type, targets, target_class, keyword_drop="labels"):
    def build():
        torch.manual_seed(0)
        base = model_factory().eval()
        wrapped = _peft(base, task_type, targets).eval()
        ids = _ids()
        mask = torch.ones_like(ids)
        return Built(
            model=wrapped,
            plain=lambda: wrapped(input_ids=ids, attention_mask=mask),
            guard=lambda: patched(wrapped, target=target_class, drop=[keyword_drop]),
            clean=lambda: wrapped.get_base_model()(input_ids=ids, attention_mask=mask),
            compare=lambda g, c: _same(_hidden(g), _hidden(c)),
        )

    return build


def llama_causal():
    from transformers import LlamaModel

    return peft_headless(lambda: LlamaModel(tiny_llama_config()), "CAUSAL_LM", ["q_proj"], LlamaModel)()


def gemma_causal():
    from transformers import GemmaConfig, GemmaModel

    config = tiny_config(GemmaConfig, num_key_value_heads=1, head_dim=8, pad_token_id=0)
    return peft_headless(lambda: GemmaModel(config), "CAUSAL_LM", ["q_proj"], GemmaModel)()


def opt_seq_cls():
    from transformers import OPTConfig, OPTModel

    config = OPTConfig(
        vocab_size=64,
        hidden_size=16,
        ffn_dim=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        word_embed_proj_dim=16,
        max_position_embeddings=32,
        pad_token_id=1,
    )
    return peft_headless(lambda: OPTModel(config), "SEQ_CLS", ["q_proj"], OPTModel)()


def roberta_token_cls():
    from transformers import RobertaConfig, RobertaModel

    config = tiny_config(RobertaConfig, max_position_embeddings=40)
    return peft_headless(lambda: RobertaModel(config), "TOKEN_CLS", ["query"], RobertaModel)()


def higgs_causal():

    from kwarg_guard.recipes.higgs_audio.tiny import tiny_model

    torch.manual_seed(0)
    wrapped = _peft(tiny_model(0), "CAUSAL_LM", ["q_proj"]).eval()
    ids = _ids(vocab=200)
    mask = torch.ones_like(ids)
    return Built(
        model=wrapped,
        plain=lambda: wrapped(input_ids=ids, attention_mask=mask),
        guard=lambda: patched(wrapped, preset="higgs_audio"),
        clean=lambda: wrapped.get_base_model()(input_ids=ids, attention_mask=mask),
        compare=lambda g, c: _same(g.logits, c.logits),
    )


def pix2struct_seq2seq():
    from transformers import Pix2StructConfig, Pix2StructForConditionalGeneration

    config = Pix2StructConfig(
        text_config={"vocab_size": 64, "hidden_size": 16, "d_kv": 8, "d_ff": 32, "num_layers": 1, "num_heads": 2},
        vision_config={
            "hidden_size": 16,
            "patch_embed_hidden_size": 12,
            "d_kv": 8,
            "d_ff": 32,
            "num_hidden_layers": 1,
            "num_attention_heads": 2,
        },
    )
    torch.manual_seed(0)
    wrapped = _peft(Pix2StructForConditionalGeneration(config).eval(), "SEQ_2_SEQ_LM", ["query"]).eval()
    patches = torch.randn(1, 4, 12 + 2)
    patches[0, :, 0] = torch.tensor([1.0, 1.0, 2.0, 2.0])  # row index of each patch
    patches[0, :, 1] = torch.tensor([1.0, 2.0, 1.0, 2.0])  # column index
    patch_mask = torch.ones(1, 4)
    decoder_ids = _ids(batch=1, length=3)
    return Built(
        model=wrapped,
        plain=lambda: wrapped(flattened_patches=patches, attention_mask=patch_mask, decoder_input_ids=decoder_ids),
        guard=lambda: patched(wrapped, target=Pix2StructForConditionalGeneration, drop=["input_ids", "inputs_embeds"]),
        clean=lambda: wrapped.get_base_model()(
            flattened_patches=patches, attention_mask=patch_mask, decoder_input_ids=decoder_ids
        ),
        compare=lambda g, c: _same(g.logits, c.logits),
    )


def distilbert_token_type_ids():
    import os
    import tempfile

    from transformers import BertTokenizerFast, DistilBertConfig, DistilBertModel

    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "hello", "world", "guard", "the", "keyword"]
    folder = tempfile.mkdtemp()
    with open(os.path.join(folder, "vocab.txt"), "w") as handle:
        handle.write("\n".join(vocab))
    tokenizer = BertTokenizerFast(vocab_file=os.path.join(folder, "vocab.txt"))
    torch.manual_seed(0)
    model = DistilBertModel(
        DistilBertConfig(vocab_size=len(vocab), dim=16, hidden_dim=32, n_layers=1, n_heads=2)
    ).eval()
    encoded = tokenizer(["hello world", "guard the keyword"], padding=True, return_tensors="pt")
    assert "token_type_ids" in encoded  # what a BERT tokenizer hands out
    clean_inputs = {k: v for k, v in encoded.items() if k != "token_type_ids"}
    return Built(
        model=model,
        plain=lambda: model(**encoded),
        guard=lambda: patched(model),
        clean=lambda: model(**clean_inputs),
        compare=lambda g, c: _same(_hidden(g), _hidden(c)),
    )


def _injected_into_a_direct_call(model, injected: dict, output):
    """A model called with one keyword it does not take, as a tokenizer or a loss hands it over."""
    ids = _ids()
    return Built(
        model=model,
        plain=lambda: model(input_ids=ids, **injected),
        guard=lambda: patched(model),
        clean=lambda: model(input_ids=ids),
        compare=lambda g, c: _same(output(g), output(c)),
    )


def llama_token_type_ids():
    from transformers import LlamaModel

    torch.manual_seed(0)
    model = LlamaModel(tiny_llama_config()).eval()
    return _injected_into_a_direct_call(model, {"token_type_ids": torch.zeros_like(_ids())}, _hidden)


def mistral_seq_cls_token_type_ids():
    from transformers import MistralConfig, MistralForSequenceClassification

    torch.manual_seed(0)
    config = tiny_config(MistralConfig, num_key_value_heads=1, pad_token_id=0, num_labels=3)
    model = MistralForSequenceClassification(config).eval()
    return _injected_into_a_direct_call(model, {"token_type_ids": torch.zeros_like(_ids())}, lambda out: out.logits)


def lora_linear_scale():
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(8, 8))
    wrapped = get_peft_model(net, LoraConfig(target_modules=["0"], r=2, init_lora_weights=False))
    lora_linear = wrapped.base_model.model[0]
    x = torch.randn(3, 8)
    return Built(
        model=wrapped,
        plain=lambda: lora_linear(x, scale=1.0),  # what diffusers' attention processors passed
        guard=lambda: patched(wrapped, target=lambda m: type(m) is torch.nn.Linear, drop=["scale"]),
        clean=lambda: lora_linear(x),
        compare=_same,
    )


def qwen2_logits_to_keep():
    from transformers import Qwen2Config, Qwen2ForCausalLM

    torch.manual_seed(0)
    config = tiny_config(Qwen2Config, num_key_value_heads=1)
    model = Qwen2ForCausalLM(config).eval()
    ids = _ids()
    import inspect

    native = "logits_to_keep" in inspect.signature(model.forward).parameters
    old_name = "logits_to_keep" if native else "num_logits_to_keep"
    return Built(
        model=model,
        plain=lambda: model(input_ids=ids, logits_to_keep=1),  # TRL GRPOTrainer's keyword
        guard=lambda: patched(model, remap={} if native else {"logits_to_keep": "num_logits_to_keep"}),
        clean=lambda: model(input_ids=ids, **{old_name: 1}),
        compare=lambda g, c: _same(g.logits, c.logits) and g.logits.shape[1] == 1,
    )


def distilbert_use_cache():
    from transformers import DistilBertConfig, DistilBertModel

    torch.manual_seed(0)
    model = DistilBertModel(DistilBertConfig(vocab_size=64, dim=16, hidden_dim=32, n_layers=1, n_heads=2)).eval()
    # DenoisingAutoEncoderLoss's decoder call passes use_cache=False
    return _injected_into_a_direct_call(model, {"use_cache": False}, _hidden)


class _Encoder(torch.nn.Module):
    """An inner module without **kwargs, like the encoders in transformers#36074."""

    def __init__(self):
        super().__init__()
        self.embed = torch.nn.Embedding(64, 8)

    def forward(self, input_ids):
        return self.embed(input_ids).mean(dim=1)


class _Regressor(torch.nn.Module):
    """Accepts **loss_kwargs (so the Trainer passes num_items_in_batch) and hands them to the encoder."""

    def __init__(self):
        super().__init__()
        self.encoder = _Encoder()
        self.head = torch.nn.Linear(8, 1)

    def forward(self, input_ids, labels=None, **loss_kwargs):
        prediction = self.head(self.encoder(input_ids, **loss_kwargs)).squeeze(-1)
        loss = None if labels is None else torch.nn.functional.mse_loss(prediction, labels)
        return {"loss": loss, "logits": prediction}


class _CleanRegressor(_Regressor):
    """The same computation; no **kwargs, so the Trainer never passes num_items_in_batch."""

    def forward(self, input_ids, labels=None):
        return super().forward(input_ids, labels)


class MT5ForRegression(MT5ForConditionalGeneration):
    """metricx's model: a score from the decoder's first step; no decoder_* or inputs_embeds parameters."""

    def forward(self, input_ids=None, attention_mask=None, labels=None):
        start = torch.zeros((input_ids.shape[0], 1), dtype=torch.long, device=input_ids.device)
        out = super().forward(input_ids=input_ids, attention_mask=attention_mask, decoder_input_ids=start)
        score = out.logits[:, 0, 0]
        loss = None if labels is None else torch.nn.functional.mse_loss(score, labels.to(score.dtype))
        return {"loss": loss, "predictions": score}


def peft_seq2seq_mt5_regression():
    from transformers import MT5Config

    cls = MT5ForRegression
    config = tiny_t5_config(MT5Config, num_decoder_layers=1)
    torch.manual_seed(0)
    wrapped = _peft(cls(config), "SEQ_2_SEQ_LM", ["q"])
    ids = _ids(length=5)
    mask = torch.ones_like(ids)

    def train_then_call():
        before = {n: p.detach().clone() for n, p in wrapped.named_parameters() if p.requires_grad}
        _train(wrapped, steps=3)
        changed = any(not torch.equal(before[n], p) for n, p in wrapped.named_parameters() if p.requires_grad)
        assert changed, "the Trainer steps did not update the LoRA weights"
        return wrapped.eval()(input_ids=ids, attention_mask=mask)

    return Built(
        model=wrapped,
        plain=lambda: wrapped(input_ids=ids, attention_mask=mask),
        guard=lambda: patched(wrapped, target=cls),
        clean=lambda: wrapped.get_base_model()(input_ids=ids, attention_mask=mask),
        compare=lambda g, c: _same(g["predictions"], c["predictions"]),
        guarded_call=train_then_call,
    )


def _train(model, steps=3, seed=0, tmp=None):
    """A few real Trainer steps; returns the weights."""
    import tempfile

    from transformers import Trainer

    generator = torch.Generator().manual_seed(seed)
    rows = [
        {"input_ids": torch.randint(1, 64, (5,), generator=generator), "labels": torch.rand((), generator=generator)}
        for _ in range(8)
    ]
    args = cpu_training_args(
        tmp or tempfile.mkdtemp(),
        max_steps=steps,
        per_device_train_batch_size=4,
        learning_rate=0.1,
        seed=seed,
        data_seed=seed,
        logging_steps=1,
        disable_tqdm=True,
    )
    Trainer(model=model, args=args, train_dataset=rows).train()
    return {name: p.detach().clone() for name, p in model.named_parameters()}


def trainer_num_items_in_batch():
    def fresh(cls):
        torch.manual_seed(0)
        return cls()

    guarded_model = fresh(_Regressor)
    return Built(
        model=guarded_model,
        plain=lambda: _train(fresh(_Regressor)),
        guard=lambda: patched(guarded_model, target=_Encoder),
        clean=lambda: _train(fresh(_CleanRegressor)),
        compare=lambda g, c: g.keys() == c.keys() and all(torch.equal(g[k], c[k]) for k in g),
        guarded_call=lambda: _train(guarded_model),
    )


_HEADLESS_UNDER_PEFT_021 = {
    "5": "peft 0.21 refuses a headless model under CAUSAL_LM (no prepare_inputs_for_generation)"
}

CASES = [
    Case(
        "peft-causal-llama",
        "LlamaModel (headless)",
        "PeftModelForCausalLM",
        "labels",
        "peft#2243",
        llama_causal,
        not_applicable=_HEADLESS_UNDER_PEFT_021,
        plain_on={"4.46": "raises"},
    ),
    Case(
        "peft-causal-gemma",
        "GemmaModel (headless)",
        "PeftModelForCausalLM",
        "labels",
        "ContextualAI/gritlm PR 21",
        gemma_causal,
        not_applicable=_HEADLESS_UNDER_PEFT_021,
        plain_on={"4.46": "raises"},
    ),
    Case(
        "peft-seqcls-opt",
        "OPTModel (headless)",
        "PeftModelForSequenceClassification",
        "labels",
        "peft#514",
        opt_seq_cls,
        plain_on={"4.46": "raises", "5": "ignored"},
    ),
    Case(
        "peft-tokencls-roberta",
        "RobertaModel (headless)",
        "PeftModelForTokenClassification",
        "labels",
        "peft#348",
        roberta_token_cls,
        plain_on={"4.46": "raises", "5": "ignored"},
    ),
    Case(
        "peft-causal-higgs",
        "HiggsAudioModel (boson_multimodal)",
        "PeftModelForCausalLM",
        "labels",
        "a Higgs Audio LoRA script (PEFT CAUSAL_LM + Trainer)",
        higgs_causal,
        not_applicable={"5": "boson_multimodal needs transformers<4.47 (the native port takes labels)"},
        plain_on={"4.46": "raises"},
    ),
    Case(
        "peft-seq2seq-pix2struct",
        "Pix2StructForConditionalGeneration",
        "PeftModelForSeq2SeqLM",
        "input_ids",
        "peft#796",
        pix2struct_seq2seq,
        plain_on={"4.46": "raises", "5": "ignored"},
    ),
    Case(
        "tokenizer-distilbert",
        "DistilBertModel",
        "BERT tokenizer output",
        "token_type_ids",
        "transformers#2702",
        distilbert_token_type_ids,
        plain_on={"4.46": "raises", "5": "ignored"},
    ),
    Case(
        "tokenizer-llama",
        "LlamaModel",
        "tokenizer output",
        "token_type_ids",
        "transformers#24514",
        llama_token_type_ids,
        plain_on={"4.46": "raises", "5": "ignored"},
    ),
    Case(
        "tokenizer-mistral-seqcls",
        "MistralForSequenceClassification",
        "tokenizer output",
        "token_type_ids",
        "transformers#33280",
        mistral_seq_cls_token_type_ids,
        plain_on={"4.46": "raises", "5": "ignored"},
    ),
    Case(
        "diffusers-lora-scale",
        "nn.Linear inside a PEFT LoRA Linear",
        "diffusers attention processor",
        "scale",
        "diffusers#5504, peft#879",
        lora_linear_scale,
        plain_on={"4.46": "raises", "5": "raises"},
    ),
    Case(
        "trl-logits-to-keep",
        "Qwen2ForCausalLM",
        "TRL GRPOTrainer",
        "logits_to_keep",
        "trl#2770",
        qwen2_logits_to_keep,
        plain_on={"4.46": "ignored", "5": "accepted"},
    ),
    Case(
        "trainer-num-items-in-batch",
        "an encoder without **kwargs",
        "Trainer (forward with **loss_kwargs)",
        "num_items_in_batch",
        "transformers#36074, #35838",
        trainer_num_items_in_batch,
        plain_on={"4.46": "raises", "5": "raises"},
    ),
    Case(
        "peft-seq2seq-mt5-regression",
        "MT5ForRegression (metricx)",
        "PeftModelForSeq2SeqLM + Trainer",
        "decoder_input_ids, inputs_embeds",
        "google-research/metricx#3",
        peft_seq2seq_mt5_regression,
        plain_on={"4.46": "raises", "5": "raises"},
    ),
    Case(
        "st-use-cache",
        "DistilBertModel as a decoder",
        "sentence-transformers DenoisingAutoEncoderLoss",
        "use_cache",
        "sentence-transformers#943",
        distilbert_use_cache,
        plain_on={"4.46": "raises", "5": "ignored"},
    ),
]
