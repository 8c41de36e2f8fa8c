"""``--benchmark``: time training steps at a given batch size and sequence length.

Reports steps/s, audio tokens/s (audio-out frames the loss trains on, per second) and peak memory:
``torch.cuda.max_memory_allocated`` on a GPU, the process's peak resident memory on a CPU. The
batches are synthetic (random codes, filler text) but go through the real tokenizer, collator,
model, LoRA, guard and Trainer, so what is timed is a real training step.

The model timed is ``--model_name_or_path`` (downloaded), the tiny demo model (``--demo``), or
with ``--benchmark_released`` the released architecture with random weights, built from the
config kept in ``release.py``: nothing is downloaded, so a GPU machine without network can run it.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path

import numpy as np
import torch
from transformers import TrainerCallback

from .finetune import prepare_model, resolve_dtype
from .manifest import AudioSource, Utterance
from .trainer import HiggsAudioTrainer

__all__ = ["released_model", "run_benchmark", "synthetic_dataset"]

WARMUP_STEPS = 2


class _StepClock(TrainerCallback):
    def __init__(self):
        self.starts, self.ends = [], []

    def on_step_begin(self, args, state, control, **kwargs):
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        self.starts.append(time.perf_counter())

    def on_step_end(self, args, state, control, **kwargs):
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        self.ends.append(time.perf_counter())


def synthetic_dataset(backend, config, tokenizer, count: int, seq_len: int, seed: int = 0):
    """Utterances whose prompt plus audio fill about ``seq_len`` positions: half text, half audio."""
    rng = np.random.default_rng(seed)
    num_codebooks, codebook_size = backend.code_shape(config)
    frames = max(1, seq_len // 2)
    text = ("lorem ipsum " * seq_len)[: max(1, seq_len // 2 - 40)]
    utterances, codes = [], []
    for index in range(count):
        target = rng.integers(0, codebook_size, size=(num_codebooks, frames))
        utterances.append(Utterance(index + 1, text, AudioSource(inline_codes=())))
        codes.append((target.astype(np.int64), None))
    return backend.dataset(utterances, codes, tokenizer, config)


def released_model(backend, num_hidden_layers: int, dtype: torch.dtype):
    """The released architecture with random weights, ``(config, model)``, built in ``dtype`` on
    the GPU when there is one: initialising 5.8 billion fp32 parameters on a CPU takes minutes."""
    config = backend.real_width_config(num_hidden_layers)
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        with torch.device("cuda" if torch.cuda.is_available() else "cpu"):
            model = backend.model_from_config(config)
    finally:
        torch.set_default_dtype(previous)
    return config, model


def _config_tokenizer_model(backend, model_args, lora_args, recipe_args, seed: int):
    if recipe_args.benchmark_released:
        from .tiny import released_ids_tokenizer

        dtype = resolve_dtype(model_args.torch_dtype, lora_args.full_finetune)
        config, model = released_model(backend, recipe_args.benchmark_layers, dtype)
        return config, released_ids_tokenizer(), model
    config, tokenizer = backend.config_and_tokenizer(model_args, recipe_args.demo)
    model = backend.load_model(model_args, seed if recipe_args.demo else None, lora_args.full_finetune)
    return config, tokenizer, model


def _model_name(model_args, recipe_args) -> str:
    if recipe_args.benchmark_released:
        return f"released architecture, random weights, {recipe_args.benchmark_layers} layers"
    return "tiny demo model" if recipe_args.demo else model_args.model_name_or_path


def run_benchmark(backend, model_args, lora_args, recipe_args, training_args) -> dict:
    config, tokenizer, base = _config_tokenizer_model(backend, model_args, lora_args, recipe_args, training_args.seed)
    batch_size = recipe_args.benchmark_batch_size
    steps = recipe_args.benchmark_steps
    dataset = synthetic_dataset(
        backend, config, tokenizer, batch_size * (steps + WARMUP_STEPS), recipe_args.benchmark_seq_len
    )
    collator = backend.collator(config)
    positions_per_step = _positions(collator([dataset[index] for index in range(batch_size)]))
    model = prepare_model(base, lora_args, recipe_args.llm_gradient_checkpointing, backend)
    training_args.per_device_train_batch_size = batch_size
    training_args.max_steps = steps + WARMUP_STEPS
    training_args.save_strategy = "no"
    training_args.logging_steps = steps + WARMUP_STEPS
    clock = _StepClock()
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    trainer = HiggsAudioTrainer(
        model=model,
        args=training_args,
        train_dataset=dataset,
        data_collator=collator,
        callbacks=[clock],
        backend=backend,
    )
    trainer.train()
    timed = [end - start for start, end in zip(clock.starts, clock.ends, strict=False)][WARMUP_STEPS:]
    seconds = sum(timed)
    audio_frames_per_step = batch_size * (recipe_args.benchmark_seq_len // 2 + 1)  # codes + eos per sample
    result = {
        "model": _model_name(model_args, recipe_args),
        "backend": backend.name,
        "device": torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu",
        "dtype": str(next(model.parameters()).dtype),
        "batch_size": batch_size,
        "seq_len": recipe_args.benchmark_seq_len,
        "timed_steps": len(timed),
        "lora": not lora_args.full_finetune,
        "llm_gradient_checkpointing": recipe_args.llm_gradient_checkpointing,
        "positions_per_step": positions_per_step,
        "steps_per_second": len(timed) / seconds,
        "audio_tokens_per_second": audio_frames_per_step * len(timed) / seconds,
        "peak_gpu_memory_gib": torch.cuda.max_memory_allocated() / 2**30 if torch.cuda.is_available() else None,
        "peak_process_memory_gib": _peak_rss_gib(),
    }
    Path(training_args.output_dir).mkdir(parents=True, exist_ok=True)
    (Path(training_args.output_dir) / "benchmark.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return result


def _positions(batch) -> int:
    """Positions one step trains on (padding included): what the model FLOPs are counted over."""
    input_ids = batch["input_ids"] if isinstance(batch, dict) else batch.input_ids
    return int(input_ids.numel())


def _peak_rss_gib() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (2**30 if sys.platform == "darwin" else 2**20)  # bytes on macOS, KiB on Linux
