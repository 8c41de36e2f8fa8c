"""The first GPU figures of the recipe, in minutes: ``python envs/run.py gpu-check``.

    python -m kwarg_guard.recipes.higgs_audio.gpu_check [--output_dir gpu-check] [--steps 5]

On a machine with CUDA, with only what is installed there, it times real training steps of the
released architecture with random weights (``--benchmark --benchmark_released``: nothing is
downloaded) on the native backend, and on the legacy one when boson_multimodal imports:

* LoRA (r 16 on attention, MLP and audio FFN) at batch 1, 2 and 4 x 1024 positions, bf16 weights
  (no autocast), without and with activation checkpointing of the decoder layers;
* full fine-tuning at batch 1 (fp32 weights and AdamW states, bf16 autocast);
* the native audio tokenizer's encode speed (random weights at the released tokenizer's shape);
* the guard's cost on a real GPU forward.

It writes ``gpu_check.json`` and ``gpu_check.md``, the table that docs/higgs-audio.md section 7
takes as it is. Each configuration is written as soon as it is measured, so a run cut short keeps
what it finished. Without CUDA it stops at once with one line and exit code 2.

Model FLOPs utilisation (MFU). Per trained position, with N the weights one position passes
through (attention, one of the two FFNs, the text and audio heads), L layers, s positions and d
the attention width: the forward costs ``2N + 4Lsd`` (the matrix products, and the attention
scores and their weighted sum over the whole sequence, as PaLM's appendix B counts them).
Full fine-tuning costs three times the forward (the backward computes gradients for the inputs
and for the weights). LoRA's backward computes no gradient for the frozen weights, so it costs
``2 x 2N`` for those plus ``2 x 4Lsd`` for attention: ``4N + 12Lsd`` in all; the adapters' own
products (rank 16) are left out. Recomputation under checkpointing is not counted (that is the
hardware FLOPs, not the model's). MFU is that rate over the card's dense bf16 peak from its
datasheet, and over a bf16 matrix product measured on the card in the same run.
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import json
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

__all__ = ["GRID", "Configuration", "flops_per_position", "main", "markdown_table"]

SEQ_LEN = 1024
# Dense bf16 tensor-core peaks from the vendors' datasheets (SXM parts), in TFLOP/s.
DATASHEET_BF16_TFLOPS = {"H100": 989.4, "H200": 989.4, "B200": 2250.0, "A100": 312.0, "L40S": 362.05}


@dataclass(frozen=True)
class Configuration:
    training: str  # "LoRA" or "full"
    batch_size: int
    checkpointing: bool

    def arguments(self, backend: str, steps: int, output_dir: str) -> list[str]:
        """The recipe's own command line for this configuration."""
        words = [
            "--benchmark",
            "--benchmark_released",
            "--backend",
            backend,
            "--benchmark_batch_size",
            str(self.batch_size),
            "--benchmark_seq_len",
            str(SEQ_LEN),
            "--benchmark_steps",
            str(steps),
            "--output_dir",
            output_dir,
            "--report_to",
            "none",
            "--dataloader_num_workers",
            "0",
        ]
        if self.training == "full":
            words += ["--full_finetune", "--torch_dtype", "float32", "--bf16"]  # fp32 master weights, bf16 autocast
        else:  # bf16 weights compute in bf16 without autocast (finetune.check_autocast says why)
            words += ["--torch_dtype", "bfloat16", "--lora_targets", "attention,mlp,audio_ffn"]
        if self.checkpointing:
            words.append("--llm_gradient_checkpointing")
        return words


GRID = [
    *(Configuration("LoRA", batch, False) for batch in (1, 2, 4)),
    *(Configuration("LoRA", batch, True) for batch in (1, 2, 4)),
    Configuration("full", 1, False),
]


def flops_per_position(num_hidden_layers: int, seq_len: int, lora: bool) -> float:
    """Model FLOPs of one trained position of the released architecture (see the module's docstring)."""
    from .release import native_config_values

    c = native_config_values(num_hidden_layers)
    d, head_dim = c["hidden_size"], c["head_dim"]
    attention = d * head_dim * (2 * c["num_attention_heads"] + 2 * c["num_key_value_heads"])
    one_ffn = 3 * d * c["intermediate_size"]
    heads = d * c["vocab_size"] + d * c["num_codebooks"] * c["codebook_size"]
    weights = num_hidden_layers * (attention + one_ffn) + heads
    scores = 4 * num_hidden_layers * seq_len * c["num_attention_heads"] * head_dim
    forward = 2 * weights + scores
    return 2 * (2 * weights) + 3 * scores if lora else 3 * forward


def _fail(message: str) -> None:
    sys.stderr.write(f"gpu-check: {message}\n")
    raise SystemExit(2)


def _measured_matmul_tflops(torch: Any) -> float:
    size = 8192
    a = torch.randn(size, size, device="cuda", dtype=torch.bfloat16)
    b = torch.randn(size, size, device="cuda", dtype=torch.bfloat16)
    for _ in range(3):
        a @ b
    torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(10):
        a @ b
    torch.cuda.synchronize()
    return 10 * 2 * size**3 / (time.perf_counter() - start) / 1e12


def _datasheet_peak(device_name: str) -> float | None:
    return next((tflops for name, tflops in DATASHEET_BF16_TFLOPS.items() if name in device_name), None)


def _train_row(backend: str, configuration: Configuration, steps: int, card: dict) -> dict:
    import torch

    from .train import main as recipe_main

    with tempfile.TemporaryDirectory() as output_dir:
        result = recipe_main(configuration.arguments(backend, steps, output_dir))
    gc.collect()
    torch.cuda.empty_cache()
    positions_per_second = result["positions_per_step"] * result["steps_per_second"]
    per_sample = result["positions_per_step"] // configuration.batch_size
    achieved = positions_per_second * flops_per_position(28, per_sample, configuration.training == "LoRA") / 1e12
    row = {**asdict(configuration), **result, "model_tflops": achieved}
    row["mfu_datasheet"] = achieved / card["datasheet_tflops"] if card["datasheet_tflops"] else None
    row["mfu_measured_matmul"] = achieved / card["matmul_tflops"]
    return row


def _guard_overhead(rounds: int = 15, calls: int = 30, layers: int = 2) -> dict:
    """Median over interleaved rounds of (guarded forward time / bare forward time), released widths,
    2 layers, batch 1 x 64 positions: a forward short enough that a per-call cost would show."""
    import torch

    from kwarg_guard import guard, unguard

    from .backend import choose_backend
    from .benchmark import released_model

    backend = choose_backend("native")
    _, model = released_model(backend, layers, torch.bfloat16)
    model.eval()
    device = next(model.parameters()).device
    ids = torch.randint(0, 1000, (1, 64), device=device)
    inputs = {"input_ids": ids, "attention_mask": torch.ones_like(ids)}

    def seconds_per_call(guarded: bool) -> float:
        if guarded:
            guard(model, preset=backend.preset)
        with torch.no_grad():
            model(**inputs)
            _synchronize(device)
            start = time.perf_counter()
            for _ in range(calls):
                model(**inputs)
            _synchronize(device)
        if guarded:
            unguard(model)
        return (time.perf_counter() - start) / calls

    ratios, bare_times = [], []
    for index in range(rounds):
        order = (False, True) if index % 2 == 0 else (True, False)
        times = {guarded: seconds_per_call(guarded) for guarded in order}
        ratios.append(times[True] / times[False])
        bare_times.append(times[False])
    return {
        "forward": f"native, released widths, {layers} layers, bf16, batch 1 x 64, no_grad",
        "rounds": rounds,
        "bare_forward_ms": statistics.median(bare_times) * 1e3,
        "guarded_over_bare": statistics.median(ratios),
    }


def _synchronize(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize()


def _tokenizer_encode_speed(seconds_of_audio: float = 10.0, repeats: int = 5) -> dict:
    """Seconds of 24 kHz audio the native tokenizer encodes per second, random weights at the
    released tokenizer's shape (DAC hop 960 at 24 kHz; a HuBERT-base semantic model at 16 kHz)."""
    import torch
    from transformers import DacConfig, HiggsAudioV2TokenizerConfig, HiggsAudioV2TokenizerModel, HubertConfig

    # 8 codebooks from the last bandwidth (2 kbps at 25 frames of 10 bits); HuBERT's 50 frames a
    # second are halved to match the acoustic hop.
    config = HiggsAudioV2TokenizerConfig(
        sample_rate=24000,
        target_bandwidths=[0.5, 1, 1.5, 2],
        acoustic_model_config=DacConfig(sampling_rate=24000, downsampling_ratios=[8, 5, 4, 2, 3]),
        semantic_model_config=HubertConfig(),
    )
    with torch.device("cuda"):
        model = HiggsAudioV2TokenizerModel(config).eval()
    audio = torch.randn(1, 1, int(24000 * seconds_of_audio), device="cuda")
    with torch.no_grad():
        model.encode(audio)
        torch.cuda.synchronize()
        start = time.perf_counter()
        for _ in range(repeats):
            codes = model.encode(audio).audio_codes
        torch.cuda.synchronize()
    elapsed = (time.perf_counter() - start) / repeats
    return {
        "audio_seconds": seconds_of_audio,
        "codes_shape": list(codes.shape),
        "realtime_factor": seconds_of_audio / elapsed,
    }


def _tokenizer_sentence(tokenizer: dict) -> str:
    if "error" in tokenizer:
        return f"Audio tokenizer encode speed: not measured ({tokenizer['error']})."
    return (
        f"Audio tokenizer (native, random weights at the released shape): {tokenizer['audio_seconds']:.0f} s of "
        f"24 kHz audio encode to codes of shape {tuple(tokenizer['codes_shape'])} at "
        f"{tokenizer['realtime_factor']:.0f} times real time."
    )


def _guard_sentence(guard_figures: dict) -> str:
    if "error" in guard_figures:
        return f"Guard on a GPU forward: not measured ({guard_figures['error']})."
    return (
        f"Guard on a GPU forward ({guard_figures['forward']}): guarded / bare time "
        f"{guard_figures['guarded_over_bare']:.3f}, the median of {guard_figures['rounds']} interleaved rounds "
        f"(bare forward {guard_figures['bare_forward_ms']:.1f} ms)."
    )


def markdown_table(report: dict) -> str:
    """The table docs/higgs-audio.md section 7 takes as it is."""
    card = report["card"]
    lines = [
        (
            f"Measured {report['date']} on {card['name']} (torch {card['torch']}, transformers "
            f"{card['transformers']}), released architecture with random weights, `--benchmark_seq_len {SEQ_LEN}` "
            "(half text, half audio; the prompt adds a few positions), `python envs/run.py gpu-check`. "
            f"Peak: {card['datasheet_tflops']} TFLOP/s dense bf16 (datasheet); a bf16 8192^3 matrix product "
            f"measured {card['matmul_tflops']:.0f} TFLOP/s on this card."
        ),
        "",
        "| backend | configuration | steps/s | audio tokens/s | peak GPU memory | MFU: datasheet / measured peak |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for row in report["rows"]:
        configuration = f"{row['training']}, batch {row['batch_size']}" + (
            ", checkpointing" if row["checkpointing"] else ""
        )
        if "error" in row:
            lines.append(f"| {row['backend']} | {configuration} | failed: {row['error']} | | | |")
            continue
        mfu = f"{row['mfu_datasheet']:.1%}" if row["mfu_datasheet"] is not None else "n/a"
        lines.append(
            f"| {row['backend']} | {configuration} | {row['steps_per_second']:.2f} | "
            f"{row['audio_tokens_per_second']:.0f} | {row['peak_gpu_memory_gib']:.1f} GiB | "
            f"{mfu} / {row['mfu_measured_matmul']:.1%} |"
        )
    lines += ["", _tokenizer_sentence(report.get("tokenizer", {})), "", _guard_sentence(report.get("guard", {}))]
    for backend, reason in report.get("skipped_backends", {}).items():
        lines += ["", f"The {backend} backend was not run: {reason}."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output_dir", default="gpu-check", help="where gpu_check.json and gpu_check.md go")
    parser.add_argument("--steps", type=int, default=5, help="timed steps per configuration (after 2 warm-up steps)")
    parser.add_argument(
        "--backends", default="native,legacy", help="comma-separated; a backend that cannot import is skipped"
    )
    parser.add_argument("--render", type=Path, help="only rewrite the markdown table of this gpu_check.json")
    args = parser.parse_args(argv)
    if args.render is not None:
        sys.stdout.write(markdown_table(json.loads(args.render.read_text())))
        return 0
    try:
        import torch
    except ImportError:
        _fail("torch is not installed in this Python; run it where torch with CUDA is (the GPU machine's python3)")
    if not torch.cuda.is_available():
        _fail("no CUDA device is visible (torch.cuda.is_available() is False); run it on a machine with an NVIDIA GPU")
    import transformers

    output = Path(args.output_dir)
    output.mkdir(parents=True, exist_ok=True)
    name = torch.cuda.get_device_name()
    card = {
        "name": name,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "datasheet_tflops": _datasheet_peak(name),
        "matmul_tflops": _measured_matmul_tflops(torch),
    }
    report: dict[str, Any] = {"date": time.strftime("%Y-%m-%d"), "card": card, "rows": [], "skipped_backends": {}}

    def write() -> None:
        (output / "gpu_check.json").write_text(json.dumps(report, indent=2) + "\n")
        (output / "gpu_check.md").write_text(markdown_table(report))

    backends = []
    for backend in args.backends.split(","):
        needed = "boson_multimodal" if backend == "legacy" else "transformers.models.higgs_audio_v2"
        if importlib.util.find_spec(needed.split(".")[0]) is None or (
            backend == "native" and not hasattr(transformers, "HiggsAudioV2ForConditionalGeneration")
        ):
            report["skipped_backends"][backend] = f"{needed} does not import here"
        else:
            backends.append(backend)
    for key, measure in (("guard", _guard_overhead), ("tokenizer", _tokenizer_encode_speed)):
        try:
            report[key] = measure()
        except Exception as error:  # a missing torchaudio must not cost the training figures
            report[key] = {"error": f"{type(error).__name__}: {error}"[:300]}
        write()
        print(f"gpu-check: {key}: {report[key]}", flush=True)
    for backend in backends:
        for configuration in GRID:
            started = time.perf_counter()
            try:
                row = _train_row(backend, configuration, args.steps, card)
            except Exception as error:  # an out-of-memory row still lets the others run
                row = {**asdict(configuration), "backend": backend, "error": f"{type(error).__name__}: {error}"[:300]}
                gc.collect()
                torch.cuda.empty_cache()
            row["wall_seconds"] = time.perf_counter() - started
            report["rows"].append(row)
            write()
            print(f"gpu-check: {json.dumps(row)}", flush=True)
    print(f"gpu-check: wrote {output / 'gpu_check.json'} and {output / 'gpu_check.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
