"""``python envs/run.py gpu-check`` and ``--benchmark --benchmark_released``: what can be checked
without a GPU. The refusal without CUDA, the recipe options each configuration passes, the FLOPs
formula against hand-counted widths, the table, and a tokenizer whose special ids are the ones
the released config looks for. The timed run itself needs a GPU (its figures are in
docs/higgs-audio.md section 7)."""

import subprocess
import sys
import types
from pathlib import Path

import pytest
import torch

from kwarg_guard.recipes.higgs_audio.arguments import RecipeError, parse_arguments
from kwarg_guard.recipes.higgs_audio.finetune import check_autocast
from kwarg_guard.recipes.higgs_audio.gpu_check import GRID, flops_per_position, markdown_table
from kwarg_guard.recipes.higgs_audio.tiny import released_ids_tokenizer
from tests.helpers.higgs_audio import BACKEND, run_recipe

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal on a machine without CUDA")
def test_without_cuda_it_stops_at_once_with_one_line_and_exit_2():
    completed = subprocess.run(
        [sys.executable, "envs/run.py", "gpu-check"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert completed.returncode == 2
    expected = (
        "gpu-check: no CUDA device is visible (torch.cuda.is_available() is False); "
        "run it on a machine with an NVIDIA GPU"
    )
    assert completed.stderr.strip().splitlines() == [expected]


def test_benchmark_released_without_benchmark_is_a_one_line_error(tmp_path):
    completed = run_recipe("--benchmark_released", "--output_dir", tmp_path)
    assert completed.returncode == 2 and "Traceback" not in completed.stderr
    assert completed.stderr.strip().splitlines()[-1].endswith("add --benchmark")


@pytest.mark.parametrize("configuration", GRID, ids=lambda c: f"{c.training}-batch{c.batch_size}-ckpt{c.checkpointing}")
def test_each_configuration_is_the_recipe_command_line_it_names(tmp_path, configuration):
    words = configuration.arguments(BACKEND.name, 3, str(tmp_path))
    # bf16 autocast for the fp32 weights of a full fine-tune only (finetune.check_autocast).
    assert ("--bf16" in words) == (configuration.training == "full")
    # transformers refuses --bf16 where no GPU supports it, so the rest is parsed here without it.
    _, _, lora_args, recipe_args, training_args = parse_arguments([w for w in words if w != "--bf16"])
    assert recipe_args.benchmark and recipe_args.benchmark_released and recipe_args.benchmark_layers == 28
    assert recipe_args.benchmark_batch_size == configuration.batch_size and recipe_args.benchmark_seq_len == 1024
    assert recipe_args.llm_gradient_checkpointing == configuration.checkpointing
    assert lora_args.full_finetune == (configuration.training == "full")
    assert training_args.report_to in ([], ["none"], "none")


@pytest.mark.parametrize("flag", ["bf16", "fp16"])
@pytest.mark.parametrize("weights", [torch.bfloat16, torch.float16])
def test_autocast_over_half_precision_weights_is_refused(flag, weights):
    # The H200 run: CUDA autocast sums the codebook embeddings in fp32, which cannot be scattered
    # into bf16 text embeddings. transformers refuses --bf16 on a CPU before this check, so the
    # two flags are given as the parsed TrainingArguments would hold them.
    flags = types.SimpleNamespace(bf16=flag == "bf16", fp16=flag == "fp16")
    with pytest.raises(RecipeError, match=f"--{flag} autocast over .* weights .*; drop --{flag}"):
        check_autocast(weights, flags)
    check_autocast(torch.float32, flags)  # fp32 master weights: autocast is what makes compute bf16
    check_autocast(weights, types.SimpleNamespace(bf16=False, fp16=False))


def test_the_grid_is_the_one_the_docs_promise():
    lora = {(c.batch_size, c.checkpointing) for c in GRID if c.training == "LoRA"}
    assert lora == {(b, ckpt) for b in (1, 2, 4) for ckpt in (False, True)}
    assert [(c.batch_size) for c in GRID if c.training == "full"] == [1]


def test_flops_per_position_counts_the_released_widths():
    # Hand-counted: q and o are 3072 x 3072, k and v 3072 x 1024; one FFN is three 3072 x 8192
    # matrices; the heads are 3072 x 128256 (text) and 3072 x 8 x 1026 (audio).
    attention = 2 * 3072 * 3072 + 2 * 3072 * 1024
    weights = 28 * (attention + 3 * 3072 * 8192) + 3072 * 128256 + 3072 * 8 * 1026
    scores = 4 * 28 * 1024 * 3072
    assert flops_per_position(28, 1024, lora=False) == 3 * (2 * weights + scores)
    assert flops_per_position(28, 1024, lora=True) == 4 * weights + 3 * scores
    assert 0.6 < flops_per_position(28, 1024, lora=True) / flops_per_position(28, 1024, lora=False) < 0.7


def test_the_table_has_a_row_per_configuration_and_says_what_failed_or_was_skipped():
    ok = {
        "backend": "native",
        "training": "LoRA",
        "batch_size": 2,
        "checkpointing": True,
        "steps_per_second": 1.5,
        "audio_tokens_per_second": 1539.0,
        "peak_gpu_memory_gib": 14.25,
        "mfu_datasheet": 0.412,
        "mfu_measured_matmul": 0.517,
    }
    failed = {"backend": "native", "training": "full", "batch_size": 1, "checkpointing": False, "error": "OOM"}
    report = {
        "date": "2026-12-04",
        "card": {
            "name": "NVIDIA H200",
            "torch": "2.11",
            "transformers": "5.24.0",
            "datasheet_tflops": 989.4,
            "matmul_tflops": 788.0,
        },
        "rows": [ok, failed],
        "guard": {"forward": "native, 2 layers", "rounds": 15, "bare_forward_ms": 3.9, "guarded_over_bare": 1.001},
        "tokenizer": {"error": "ImportError: torchaudio"},
        "skipped_backends": {"legacy": "boson_multimodal does not import here"},
    }
    table = markdown_table(report)
    assert "| native | LoRA, batch 2, checkpointing | 1.50 | 1539 | 14.2 GiB | 41.2% / 51.7% |" in table
    assert "| native | full, batch 1 | failed: OOM |" in table
    assert "NVIDIA H200" in table and "788 TFLOP/s" in table
    assert "The legacy backend was not run: boson_multimodal does not import here." in table
    assert "Audio tokenizer encode speed: not measured (ImportError: torchaudio)." in table
    assert "guarded / bare time 1.001, the median of 15 interleaved rounds (bare forward 3.9 ms)" in table


def test_render_rewrites_the_table_of_a_saved_run():
    saved = ROOT / "docs" / "measurements" / "gpu-check-h200-2026-12-04.json"
    completed = subprocess.run(
        [sys.executable, "-m", "kwarg_guard.recipes.higgs_audio.gpu_check", "--render", str(saved)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 0
    docs = (ROOT / "docs" / "higgs-audio.md").read_text()
    published = docs.split("<!-- gpu-check:begin -->\n")[1].split("<!-- gpu-check:end -->")[0]
    assert published == completed.stdout  # the docs show that run as it was measured


def test_the_released_ids_tokenizer_puts_audio_tokens_where_the_released_config_looks():
    config = BACKEND.real_width_config(1)
    tokenizer = released_ids_tokenizer()
    ids = tokenizer.convert_tokens_to_ids
    audio_out = getattr(config, "audio_out_token_idx", None) or config.audio_token_id
    audio_bos = getattr(config, "audio_out_bos_token_id", None) or config.audio_bos_token_id
    assert ids("<|AUDIO_OUT|>") == audio_out and ids("<|audio_out_bos|>") == audio_bos
    vocab_size = getattr(config, "text_config", config).vocab_size
    assert max(tokenizer.get_vocab().values()) < vocab_size
    assert tokenizer("Hi.")["input_ids"] == [ids("H"), ids("i"), ids(".")]
