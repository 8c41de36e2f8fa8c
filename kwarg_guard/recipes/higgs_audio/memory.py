"""An estimate of the GPU memory one LoRA training step of the released 3B model takes, measured on
a CPU where no GPU is at hand.

    python -m kwarg_guard.recipes.higgs_audio.memory [--seq_len 1024] [--batch_size 2] [--markdown FILE]

Method. The real model's layers are built at their real width (hidden 3072, 24 attention heads of
128 with 8 key/value heads, text and audio FFNs of 8192, the 128256-token vocabulary, 8 codebooks)
in bf16, with one and with two decoder layers, LoRA (r 16 on attention, MLP and audio FFN) and
this recipe's guard, loss and batch layout (half text, half audio). For each, one forward with
the loss is recorded by the profiler's CPU memory events, which count every byte the allocator
hands out and takes back: what is still held when the loss is ready is the memory the backward
needs; the highest point is the peak. One layer's share is the two-layer run minus the one-layer
run; the rest (embeddings, output heads, logits, loss) is outside the layers. Both are measured
with and without activation checkpointing of the decoder layers.

The estimate for the 28-layer model adds, from the config, the bf16 weights and, for LoRA, fp32
adapter weights, gradients and two AdamW states. It leaves out what only a GPU shows: the CUDA
context, cuBLAS workspaces and the allocator's fragmentation (typically 1-2 GiB together).
"""

from __future__ import annotations

import argparse
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import numpy as np
import torch

from .finetune import lora_target_regex
from .release import TOKEN_IDS

__all__ = ["estimate", "main", "measure_step"]

GIB = 2**30
FULL_DEPTH = 28
_LORA_GROUPS = "attention,mlp,audio_ffn"  # what the estimate adapts (r 16)


@dataclass
class StepMemory:
    held: int  # bytes held when the loss is ready (what the backward needs)
    peak: int  # highest allocation during the forward


def _batch(backend: Any, config: Any, seq_len: int, batch_size: int) -> dict[str, torch.Tensor]:
    """A batch as the recipe builds it: about half text, half audio, every position trained."""
    from .prompts import Prompt

    num_codebooks, codebook_size = backend.code_shape(config)
    vocab_size = getattr(config, "text_config", config).vocab_size
    frames = max(1, seq_len // 2 - num_codebooks - 1)
    audio_out = getattr(config, "audio_out_token_idx", None) or config.audio_token_id
    audio_bos = getattr(config, "audio_out_bos_token_id", None) or config.audio_bos_token_id
    # <|audio_eos|> and <|eot_id|> close the turn in the released vocabulary.
    closing = [token for token in (TOKEN_IDS["audio_eos"], TOKEN_IDS["eot"]) if token < vocab_size]
    specials = [audio_bos, audio_out, *closing]
    text = seq_len - (frames + num_codebooks + 1) - len(specials)
    high = min(120000, vocab_size // 2)
    rng = np.random.default_rng(0)
    ids = rng.integers(min(1000, high // 2), high, size=text).tolist() + specials
    labels = [-100] * text + specials
    prompt = Prompt(ids, labels, (True,))
    codes = rng.integers(0, codebook_size, size=(num_codebooks, frames))
    return backend.collator(config)([backend.sample(prompt, [codes], config) for _ in range(batch_size)])


def allocations(step: Callable[[], Any]) -> tuple[Any, StepMemory]:
    """Run ``step`` and return its result with the CPU memory it left allocated and its peak.

    The profiler's raw allocation records are summed in time order: each allocation and free is
    counted once, also those made outside any operator.
    """
    from torch._C._autograd import DeviceType
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as recording:
        result = step()
    records = sorted(
        (event.start_ns(), event.nbytes())
        for event in recording.profiler.kineto_results.events()
        if event.name() == "[memory]" and event.device_type() == DeviceType.CPU
    )
    peak = current = 0
    for _, change in records:
        current += change
        peak = max(peak, current)
    return result, StepMemory(current, peak)


def measure_step(backend: Any, config: Any, seq_len: int, batch_size: int, checkpointing: bool) -> StepMemory:
    """Memory one forward with the loss holds for the backward, for a model built from ``config``
    with LoRA (r 16 on attention, MLP and audio FFN) in bf16."""
    from .finetune import prepare_model
    from .loss import TargetCounts, normalized_loss

    torch.manual_seed(0)
    base = backend.model_from_config(config).to(torch.bfloat16)
    lora = SimpleNamespace(full_finetune=False, lora_r=16, lora_alpha=32, lora_dropout=0.0, lora_targets=_LORA_GROUPS)
    model = prepare_model(base, lora, checkpointing, backend)
    model.train()
    batch = _batch(backend, config, seq_len, batch_size)

    def forward_with_loss() -> torch.Tensor:
        sums, _ = backend.loss_sums(model, batch)
        return normalized_loss(sums, TargetCounts(sums.text_targets, sums.audio_targets))

    _, memory = allocations(forward_with_loss)
    return memory


def _parameter_bytes(backend: Any) -> tuple[int, int]:
    """(bf16 weights of the full model, fp32 LoRA r16 weights + grads + 2 AdamW states), from the
    config: two layers built and scaled, as a full model would not fit every CPU."""
    one, two = (backend.model_from_config(backend.real_width_config(n)) for n in (1, 2))
    per_layer = sum(p.numel() for p in two.parameters()) - sum(p.numel() for p in one.parameters())
    outside = sum(p.numel() for p in one.parameters()) - per_layer
    weights = 2 * (outside + FULL_DEPTH * per_layer)
    lora_per_layer = 0
    # The model built with one layer: every LoRA target of the measured groups is in layer 0.
    pattern = re.compile(lora_target_regex(_LORA_GROUPS, backend.lora_targets))
    for name, module in one.named_modules():
        if pattern.fullmatch(name) and isinstance(module, torch.nn.Linear):
            lora_per_layer += 16 * (module.in_features + module.out_features)
    return weights, 16 * FULL_DEPTH * lora_per_layer  # 4 B weight + 4 B grad + 8 B AdamW states


def estimate(backend: Any, seq_len: int, batch_size: int) -> dict[str, Any]:
    """Measured shares and the 28-layer estimate, with and without checkpointing, in bytes."""
    weights, lora_state = _parameter_bytes(backend)
    rows = {}
    for checkpointing in (False, True):
        one, two = (
            measure_step(backend, backend.real_width_config(layers), seq_len, batch_size, checkpointing)
            for layers in (1, 2)
        )
        per_layer = two.held - one.held
        outside = one.held - per_layer
        peak_above_held = max(one.peak - one.held, two.peak - two.held)
        activations = outside + FULL_DEPTH * per_layer
        rows[checkpointing] = {
            "per_layer": per_layer,
            "outside": outside,
            "transient": peak_above_held,
            "activations": activations,
            "total": weights + lora_state + activations + peak_above_held,
        }
    return {"weights": weights, "lora_state": lora_state, "rows": rows, "seq_len": seq_len, "batch_size": batch_size}


def table(result: dict[str, Any]) -> str:
    rows = result["rows"]

    def gib(value: float) -> str:
        return f"{value / GIB:.2f}"

    lines = [
        f"| one LoRA step, batch {result['batch_size']} x {result['seq_len']} positions, bf16 | without checkpointing | with LLM checkpointing |",
        "|---|---:|---:|",
        f"| activations per decoder layer (measured) | {gib(rows[False]['per_layer'])} GiB | {gib(rows[True]['per_layer'])} GiB |",
        f"| activations outside the layers: embeddings, heads, logits, loss (measured) | {gib(rows[False]['outside'])} GiB | {gib(rows[True]['outside'])} GiB |",
        f"| activations, {FULL_DEPTH} layers (extrapolated) | {gib(rows[False]['activations'])} GiB | {gib(rows[True]['activations'])} GiB |",
        f"| transient peak above that (measured) | {gib(rows[False]['transient'])} GiB | {gib(rows[True]['transient'])} GiB |",
        f"| weights, bf16 (from the config) | {gib(result['weights'])} GiB | {gib(result['weights'])} GiB |",
        f"| LoRA weights, gradients, AdamW states, fp32 (from the config) | {gib(result['lora_state'])} GiB | {gib(result['lora_state'])} GiB |",
        f"| **estimated peak** (plus CUDA context and fragmentation) | **{gib(rows[False]['total'])} GiB** | **{gib(rows[True]['total'])} GiB** |",
        f"| within 24 GiB with 2 GiB to spare | {'yes' if rows[False]['total'] <= 22 * GIB else 'no'} | {'yes' if rows[True]['total'] <= 22 * GIB else 'no'} |",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    import platform

    from .backend import choose_backend

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", default="auto", help="legacy, native or auto")
    parser.add_argument("--seq_len", type=int, default=1024)
    parser.add_argument("--batch_size", type=int, default=2)
    parser.add_argument("--markdown", help="replace the table between the memory markers in this file")
    args = parser.parse_args(argv)
    backend = choose_backend(args.backend)
    started = time.monotonic()
    result = estimate(backend, args.seq_len, args.batch_size)
    block = (
        f"Measured {time.strftime('%Y-%m-%d')} on a {os.cpu_count()}-core {platform.machine()} CPU (torch "
        f"{torch.__version__}), {backend.name} backend, in {time.monotonic() - started:.0f} s:\n\n{table(result)}"
    )
    print(block)
    if args.markdown:
        from pathlib import Path

        path = Path(args.markdown)
        text = path.read_text()
        pattern = re.compile(r"(<!-- memory:begin -->\n).*?(<!-- memory:end -->)", re.S)
        if not pattern.search(text):
            raise SystemExit(f"{path} has no <!-- memory:begin --> ... <!-- memory:end --> block")
        path.write_text(pattern.sub(lambda m: m.group(1) + block + "\n" + m.group(2), text))


if __name__ == "__main__":
    main()
