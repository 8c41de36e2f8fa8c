"""Tiny real Higgs Audio pieces for the tests: the model, tokenizer, dataset and a batch."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import needs_boson

pytestmark = needs_boson


def tiny_parts(folder: Path, num_utterances: int = 8):
    from kwarg_guard.recipes.higgs_audio.codes import CodeCache, load_codes
    from kwarg_guard.recipes.higgs_audio.legacy.data import HiggsAudioBatcher, HiggsAudioDataset, make_collator
    from kwarg_guard.recipes.higgs_audio.manifest import read_manifest
    from kwarg_guard.recipes.higgs_audio.tiny import tiny_config, tiny_tokenizer, write_demo_manifest

    config, tokenizer = tiny_config(), tiny_tokenizer()
    manifest = write_demo_manifest(folder, num_utterances)
    utterances = read_manifest(manifest, config.audio_num_codebooks, config.audio_codebook_size)
    codes = load_codes(
        utterances, CodeCache(folder / "cache", None), config.audio_num_codebooks, config.audio_codebook_size, manifest
    )
    dataset = HiggsAudioDataset(utterances, codes, tokenizer)
    return config, tokenizer, dataset, HiggsAudioBatcher(make_collator(config))


@pytest.fixture
def higgs(tmp_path):
    """(config, tokenizer, dataset, batcher, batch of 4)."""
    config, tokenizer, dataset, batcher = tiny_parts(tmp_path / "data")
    return config, tokenizer, dataset, batcher, batcher([dataset[i] for i in range(4)])


def lora_model(seed: int = 0, preset: bool = True, targets: str = "attention,mlp,audio_ffn,heads"):
    from peft import LoraConfig, get_peft_model

    from kwarg_guard import guard
    from kwarg_guard.recipes.higgs_audio.finetune import lora_target_regex
    from kwarg_guard.recipes.higgs_audio.legacy.model import LORA_TARGETS
    from kwarg_guard.recipes.higgs_audio.tiny import tiny_model

    model = get_peft_model(
        tiny_model(seed),
        LoraConfig(task_type="CAUSAL_LM", r=4, target_modules=lora_target_regex(targets, LORA_TARGETS)),
    )
    return guard(model, preset="higgs_audio") if preset else model
