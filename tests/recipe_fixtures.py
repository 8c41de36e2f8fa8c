"""The recipe's pieces on whichever backend this stack runs (legacy on 4.46, native on 5)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from kwarg_guard.recipes.higgs_audio.backend import choose_backend

BACKEND = choose_backend("auto")


def demo_dataset(folder: Path, count: int = 8, **manifest_options):
    """(config, tokenizer, dataset) from the demo's synthetic manifest."""
    from kwarg_guard.recipes.higgs_audio.codes import CodeCache, load_codes
    from kwarg_guard.recipes.higgs_audio.manifest import read_manifest
    from kwarg_guard.recipes.higgs_audio.tiny import write_demo_manifest

    config, tokenizer = BACKEND.config_and_tokenizer(None, demo=True)
    manifest = write_demo_manifest(folder, count, **manifest_options)
    utterances = read_manifest(manifest, *BACKEND.code_shape(config))
    codes = load_codes(utterances, CodeCache(folder / "cache", None), *BACKEND.code_shape(config), manifest)
    return config, tokenizer, BACKEND.dataset(utterances, codes, tokenizer, config)


def lora(seed: int = 0, targets: str = "attention,mlp,audio_ffn,heads", dropout: float = 0.0):
    """The backend's tiny model with LoRA and its preset, as the recipe prepares it."""
    from types import SimpleNamespace

    from kwarg_guard.recipes.higgs_audio.finetune import prepare_model

    torch.manual_seed(seed)
    options = SimpleNamespace(full_finetune=False, lora_r=4, lora_alpha=8, lora_dropout=dropout, lora_targets=targets)
    return prepare_model(BACKEND.load_model(None, seed, False), options, False, BACKEND)


@pytest.fixture
def recipe(tmp_path):
    """(config, tokenizer, dataset, collator) of the backend, on the demo data."""
    config, tokenizer, dataset = demo_dataset(tmp_path / "data")
    return config, tokenizer, dataset, BACKEND.collator(config)
