"""The Higgs Audio recipe's pieces for the tests: the backend this stack runs (legacy on 4.46,
native on 5), its demo data, and tiny models with LoRA. The fixtures built from them (``higgs``,
``recipe``) are in tests/recipes/higgs_audio/conftest.py."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import torch

from kwarg_guard.recipes.higgs_audio.backend import choose_backend
from tests.helpers import ROOT

BACKEND = choose_backend("auto")


def demo_dataset(folder: Path, count: int = 8, backend: Any = BACKEND, **manifest_options):
    """(config, tokenizer, dataset) of ``backend`` from the demo's synthetic manifest."""
    from kwarg_guard.recipes.higgs_audio.codes import CodeCache, load_codes
    from kwarg_guard.recipes.higgs_audio.manifest import read_manifest
    from kwarg_guard.recipes.higgs_audio.tiny import write_demo_manifest

    config, tokenizer = backend.config_and_tokenizer(None, demo=True)
    manifest = write_demo_manifest(folder, count, **manifest_options)
    utterances = read_manifest(manifest, *backend.code_shape(config))
    codes = load_codes(utterances, CodeCache(folder / "cache", None), *backend.code_shape(config), manifest)
    return config, tokenizer, backend.dataset(utterances, codes, tokenizer, config)


def tiny_parts(folder: Path, num_utterances: int = 8):
    """(config, tokenizer, dataset, batcher) of the legacy port (boson_multimodal) on the demo data."""
    legacy = choose_backend("legacy")
    config, tokenizer, dataset = demo_dataset(folder, num_utterances, backend=legacy)
    return config, tokenizer, dataset, legacy.collator(config)


def lora(seed: int = 0, targets: str = "attention,mlp,audio_ffn,heads", dropout: float = 0.0):
    """The backend's tiny model with LoRA and its preset, as the recipe prepares it."""
    from types import SimpleNamespace

    from kwarg_guard.recipes.higgs_audio.finetune import prepare_model

    torch.manual_seed(seed)
    options = SimpleNamespace(full_finetune=False, lora_r=4, lora_alpha=8, lora_dropout=dropout, lora_targets=targets)
    return prepare_model(BACKEND.load_model(None, seed, False), options, False, BACKEND)


def lora_model(seed: int = 0, preset: bool = True, targets: str = "attention,mlp,audio_ffn,heads"):
    """The legacy tiny model with LoRA, guarded by the higgs_audio preset unless ``preset`` is False."""
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


def run_recipe(*args, timeout=600, env=None):
    """The recipe's command in a new Python, as a user runs it from a clone."""
    return subprocess.run(
        [sys.executable, "-m", "kwarg_guard.recipes.higgs_audio", *map(str, args)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=None if env is None else {**os.environ, **env},
    )


def run_manifest_helper(*args, timeout=300):
    """The folder-to-manifest command in a new Python, as a user runs it."""
    return subprocess.run(
        [sys.executable, "-m", "kwarg_guard.recipes.higgs_audio.manifest", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def train_demo(output_dir: Path, *options: str):
    """The recipe's ``main`` on the demo data for one epoch, without the sample generation."""
    from kwarg_guard.recipes.higgs_audio import main

    return main(["--demo", "--output_dir", str(output_dir), "--num_train_epochs", "1", "--generate_text", "", *options])
