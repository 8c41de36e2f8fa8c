"""The demo's embedded default: a tiny random model of each port, a character tokenizer and
synthetic data.

Nothing here is downloaded. The tokenizer maps printable ASCII to ids 0-95 and puts the Higgs
special tokens at the ids the tiny configs name, so the prompts, the legacy collator and the
native layout run unchanged. The two tiny configs describe the same architecture (the legacy
one with every layer a dual-FFN layer, as the release has it), so a converted checkpoint of one
runs as the other.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

NUM_CODEBOOKS = 4
CODEBOOK_SIZE = 32

SPECIAL_TOKENS = {
    "<|reserved_special_token_6|>": 239,  # the native port's delay placeholder, as in the release tokenizer
    "<|begin_of_text|>": 240,
    "<|end_of_text|>": 241,
    "<|start_header_id|>": 242,
    "<|end_header_id|>": 243,
    "<|eot_id|>": 244,
    "<|eom_id|>": 245,
    "<|audio_bos|>": 246,
    "<|recipient|>": 247,
    "<|scene_desc_start|>": 248,
    "<|scene_desc_end|>": 249,
    "<|audio_eos|>": 250,
    "<|audio_out_bos|>": 251,
    "<|AUDIO|>": 252,
    "<|AUDIO_OUT|>": 253,
    "<unk>": 254,
    "<|pad|>": 255,
}


def tiny_config():
    """The tiny HiggsAudioConfig (about 170k parameters): every special id below the vocab size,
    stream bos/eos = codebook size and codebook size + 1, the delay pattern on as in the release."""
    from boson_multimodal.model.higgs_audio import HiggsAudioConfig

    return HiggsAudioConfig(
        text_config={
            "model_type": "llama",
            "vocab_size": 256,
            "hidden_size": 64,
            "intermediate_size": 128,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "num_key_value_heads": 2,
            "rms_norm_eps": 1e-5,
            "bos_token_id": SPECIAL_TOKENS["<|begin_of_text|>"],
            "eos_token_id": SPECIAL_TOKENS["<|end_of_text|>"],
        },
        audio_ffn_hidden_size=64,
        audio_ffn_intermediate_size=128,
        audio_adapter_type="dual_ffn_fast_forward",
        audio_dual_ffn_layers=[0, 1],
        skip_audio_tower=True,
        encode_whisper_embed=False,
        use_delay_pattern=True,
        encode_audio_in_tokens=True,
        audio_num_codebooks=NUM_CODEBOOKS,
        audio_codebook_size=CODEBOOK_SIZE,
        audio_stream_bos_id=CODEBOOK_SIZE,
        audio_stream_eos_id=CODEBOOK_SIZE + 1,
        audio_in_token_idx=SPECIAL_TOKENS["<|AUDIO|>"],
        audio_out_token_idx=SPECIAL_TOKENS["<|AUDIO_OUT|>"],
        pad_token_id=SPECIAL_TOKENS["<|pad|>"],
        audio_out_bos_token_id=SPECIAL_TOKENS["<|audio_out_bos|>"],
        audio_eos_token_id=SPECIAL_TOKENS["<|audio_eos|>"],
    )


def tiny_model(seed: int = 0):
    import torch
    from boson_multimodal.model.higgs_audio import HiggsAudioModel

    torch.manual_seed(seed)
    return HiggsAudioModel(tiny_config())


def tiny_native_config():
    """The tiny ``HiggsAudioV2Config`` of the same architecture: ``codebook_size`` counts the
    stream bos and eos (32 codes + 2)."""
    from transformers import HiggsAudioV2Config

    return HiggsAudioV2Config(
        vocab_size=256,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=16,
        rms_norm_eps=1e-5,
        num_codebooks=NUM_CODEBOOKS,
        codebook_size=CODEBOOK_SIZE + 2,
        audio_stream_bos_id=CODEBOOK_SIZE,
        audio_stream_eos_id=CODEBOOK_SIZE + 1,
        audio_token_id=SPECIAL_TOKENS["<|AUDIO_OUT|>"],
        audio_bos_token_id=SPECIAL_TOKENS["<|audio_out_bos|>"],
        audio_delay_token_id=SPECIAL_TOKENS["<|reserved_special_token_6|>"],
        pad_token_id=SPECIAL_TOKENS["<|pad|>"],
        bos_token_id=SPECIAL_TOKENS["<|begin_of_text|>"],
        eos_token_id=SPECIAL_TOKENS["<|eot_id|>"],
        rope_parameters={"rope_type": "default", "rope_theta": 10000.0},
    )


def tiny_native_model(seed: int = 0):
    import torch
    from transformers import HiggsAudioV2ForConditionalGeneration

    torch.manual_seed(seed)
    return HiggsAudioV2ForConditionalGeneration(tiny_native_config(), use_text_head=True)


def tiny_tokenizer(special_ids: dict[str, int] | None = None):
    """A ``PreTrainedTokenizerFast``: one token per character, Higgs special tokens kept whole, at
    ``special_ids`` (default: the tiny configs' ids, ``SPECIAL_TOKENS``)."""
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    special = SPECIAL_TOKENS if special_ids is None else special_ids
    vocab = {chr(code): index for index, code in enumerate(range(32, 127))}
    vocab["\n"] = 95
    # Fill the unused ids so the vocabulary has no holes (tokenizers warns about holes on save).
    taken = set(special.values())
    vocab.update({f"<|reserved_{i}|>": i for i in range(96, max(taken)) if i not in taken})
    vocab.update(special)
    tokenizer = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.Split(Regex(r"[\s\S]"), behavior="isolated")
    tokenizer.decoder = decoders.Fuse()
    tokenizer.add_special_tokens([AddedToken(token, special=True, normalized=False) for token in special])
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        bos_token="<|begin_of_text|>",
        eos_token="<|end_of_text|>",
        pad_token="<|pad|>",
        unk_token="<unk>",
    )


def released_ids_tokenizer():
    """``tiny_tokenizer`` with the special tokens at the released model's ids (128000 and up), for
    random-weight models of the released architecture: the prompts then put ``<|AUDIO_OUT|>``
    where the released config looks for it. Tokens the release has no fixed id for here (the
    scene description markers, padding) take spare ids above the known ones."""
    from .release import SPECIAL_TOKEN_IDS

    ids = dict(SPECIAL_TOKEN_IDS)
    spare = iter(range(max(ids.values()) + 1, max(ids.values()) + 1 + len(SPECIAL_TOKENS)))
    for name in SPECIAL_TOKENS:
        if name not in ids:
            ids[name] = next(spare)
    return tiny_tokenizer(ids)


DEMO_SENTENCES = [
    "Hello there.",
    "The quick brown fox.",
    "Audio codes, not waves.",
    "A tiny voice.",
    "Keyword guards work.",
    "One more line.",
    "Counting to ten.",
    "Good night.",
]


def write_demo_manifest(folder: Path, num_utterances: int = 8, seed: int = 0) -> Path:
    """Write a synthetic manifest whose codes follow a learnable pattern per sentence.

    Each utterance's codes are a short ramp that depends on its text, inline in the manifest, so
    the demo needs no audio tokenizer and its loss has something real to learn.
    """
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    manifest = folder / "manifest.jsonl"
    with manifest.open("w") as handle:
        for index in range(num_utterances):
            text = DEMO_SENTENCES[index % len(DEMO_SENTENCES)]
            frames = 6 + (index % 4)
            start = int(rng.integers(0, CODEBOOK_SIZE))
            codes = [[(start + 3 * t + 5 * c) % CODEBOOK_SIZE for t in range(frames)] for c in range(NUM_CODEBOOKS)]
            record = {"text": text, "audio_codes": codes, "scene": "Audio is recorded in a quiet room."}
            handle.write(json.dumps(record) + "\n")
    return manifest
