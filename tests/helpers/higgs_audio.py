"""The Higgs Audio recipe's pieces for the tests: the backend this stack runs (legacy on 4.46,
native on 5), its demo data, and tiny models with LoRA. The fixtures built from them (``higgs``,
``recipe``) are in tests/recipes/higgs_audio/conftest.py."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
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


def tones(codes):
    """Codes to sound without an audio tokenizer (the stacks without torchaudio have none): 40 ms of a
    tone per frame, its pitch set by the first codebook's code."""
    rate, frame = 16000, 640
    t = np.arange(frame) / rate
    return np.concatenate([0.3 * np.sin(2 * np.pi * (120 + 15 * int(c)) * t) for c in codes[0]]).astype(
        np.float32
    ), rate


def eval_generation_run(tmp_path: Path, report_to: str = "none") -> tuple:
    """(trainer, hook) of a 2-step demo run evaluated at every step with ``--eval_generate 2``,
    scored by tiny ASR and speaker models, its clips decoded by ``tones``; not yet trained."""
    from kwarg_guard.recipes.higgs_audio.arguments import parse_arguments
    from kwarg_guard.recipes.higgs_audio.data import load_run_data
    from kwarg_guard.recipes.higgs_audio.eval_generation import build_eval_generation
    from kwarg_guard.recipes.higgs_audio.finetune import prepare_model
    from kwarg_guard.recipes.higgs_audio.tiny_quality import write_tiny_asr, write_tiny_speaker_model
    from kwarg_guard.recipes.higgs_audio.trainer import HiggsAudioTrainer

    argv = ["--demo", "--output_dir", str(tmp_path / "out"), "--eval_generate", "2", "--max_steps", "2"]
    argv += ["--eval_steps", "1", "--generate_max_new_tokens", "8", "--report_to", report_to]
    argv += ["--asr_model", str(write_tiny_asr(tmp_path / "asr"))]
    argv += ["--speaker_model", str(write_tiny_speaker_model(tmp_path / "speaker"))]
    model_args, data_args, lora_args, recipe_args, training_args = parse_arguments(argv)
    config, tokenizer = BACKEND.config_and_tokenizer(model_args, True)
    data = load_run_data(BACKEND, data_args, model_args, training_args, config, tokenizer, tmp_path / "out")
    hook = build_eval_generation(
        BACKEND, model_args, recipe_args, training_args, data, tokenizer, tmp_path / "out", to_waveform=tones
    )
    model = prepare_model(BACKEND.load_model(model_args, 0, False), lora_args, False, BACKEND)
    trainer = HiggsAudioTrainer(
        model=model,
        args=training_args,
        train_dataset=data.train,
        eval_dataset=data.eval,
        data_collator=BACKEND.collator(config),
        backend=BACKEND,
        eval_generation=hook,
    )
    return trainer, hook


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
