"""The recipe's options: dataclasses parsed by ``HfArgumentParser``, next to the Trainer's own
``TrainingArguments``, from the command line, a YAML/JSON file, or both.

    python -m kwarg_guard.recipes.higgs_audio run.yaml --learning_rate 5e-5

Later sources win: the demo's defaults (``--demo``, or ``demo: true`` in the file), then the
file, then the command line. A user error (an unknown option, a bad value, a missing file) is a
``RecipeError``: the command line prints it as one line and exits with code 2.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

from .release import FRAME_RATE, LEGACY_AUDIO_TOKENIZER_REVISION, LEGACY_MODEL_REVISION
from .usage import HELP_FLAGS, recipe_help

__all__ = [
    "ASR_MODEL",
    "DEMO_DEFAULTS",
    "SPEAKER_MODEL",
    "DataArguments",
    "LoraArguments",
    "ModelArguments",
    "RecipeArguments",
    "RecipeError",
    "parse_arguments",
]


# The scoring models of --eval_generate and the manifest helper's --transcribe (quality.py).
ASR_MODEL = "openai/whisper-large-v3"
SPEAKER_MODEL = "microsoft/wavlm-base-plus-sv"


class RecipeError(ValueError):
    """A user error the command line reports as one line, with exit code 2."""


@dataclass
class ModelArguments:
    backend: str = field(
        default="auto",
        metadata={
            "help": "legacy (boson_multimodal on transformers 4.46), native (the transformers 5 port), or auto: "
            "native when transformers >= 5 is installed and boson_multimodal is not, else legacy"
        },
    )
    model_name_or_path: str = field(
        default="bosonai/higgs-audio-v2-generation-3B-base",
        metadata={"help": "Higgs Audio checkpoint (hub id or folder)"},
    )
    model_revision: str | None = field(
        default=None,
        metadata={
            "help": f"hub revision of the model; default: {LEGACY_MODEL_REVISION} (the last legacy snapshot) "
            "on the legacy backend, main on the native one"
        },
    )
    tokenizer_name_or_path: str | None = field(default=None, metadata={"help": "text tokenizer; default: the model's"})
    tokenizer_revision: str | None = field(
        default=None, metadata={"help": "hub revision of the text tokenizer; default: the model's"}
    )
    audio_tokenizer: str = field(
        default="bosonai/higgs-audio-v2-tokenizer",
        metadata={"help": "Higgs audio tokenizer (hub id or folder), to encode WAVs and decode the generated sample"},
    )
    audio_tokenizer_revision: str | None = field(
        default=None,
        metadata={
            "help": f"hub revision of the audio tokenizer; default: {LEGACY_AUDIO_TOKENIZER_REVISION} on the legacy "
            "backend, main on the native one"
        },
    )
    audio_tokenizer_device: str | None = field(
        default=None,
        metadata={
            "help": "where the audio tokenizer encodes the WAVs and decodes the sample (cuda, cuda:1, cpu); default: "
            "cuda when there is one, else cpu. Under torchrun only the main process encodes (the others wait)"
        },
    )
    hubert_revision: str | None = field(
        default=None,
        metadata={
            "help": "hub revision of bosonai/hubert_base, which the legacy audio tokenizer loads itself; default: "
            "what the hub serves (no known-good pin exists: record the one you use)"
        },
    )
    torch_dtype: str = field(
        default="auto",
        metadata={
            "help": "weights' dtype: auto (LoRA: bf16 on a GPU that has it, else fp32; full fine-tuning: fp32), "
            "bfloat16, float16, float32"
        },
    )


@dataclass
class DataArguments:
    train_manifest: str | None = field(default=None, metadata={"help": "JSONL manifest of the training utterances"})
    eval_manifest: str | None = field(
        default=None, metadata={"help": "JSONL manifest of held-out utterances for evaluation"}
    )
    eval_fraction: float = field(
        default=0.0,
        metadata={
            "help": "hold this fraction of the training manifest out for evaluation (instead of --eval_manifest)"
        },
    )
    code_cache_dir: str | None = field(
        default=None, metadata={"help": "where encoded audio codes are kept (default: <manifest folder>/.higgs_codes)"}
    )
    max_audio_seconds: float | None = field(
        default=None,
        metadata={"help": f"skip utterances whose target audio is longer ({FRAME_RATE} frames a second); reported"},
    )


@dataclass
class LoraArguments:
    """LoRA or full fine-tuning; ``finetune.prepare_model`` turns these into a ``peft.LoraConfig``.

    Neither ready-made dataclass fits. ``peft.LoraConfig`` itself cannot be parsed by
    ``HfArgumentParser``: fields such as ``init_lora_weights`` and ``target_modules`` take one of
    several types, which it refuses, on both stacks. TRL's ``ModelConfig`` has these ``lora_r``,
    ``lora_alpha`` and ``lora_dropout``, but its ``lora_target_modules`` are module names, one list
    for any model, where ``--lora_targets`` names groups that each port maps to its own module
    regex (``Backend.lora_targets``); its ``model_name_or_path`` and ``model_revision`` would clash
    with ``ModelArguments``'; and it would add TRL, in a release for each transformers
    generation, to both stacks for three options.
    """

    full_finetune: bool = field(default=False, metadata={"help": "train every weight instead of LoRA adapters"})
    lora_r: int = field(default=16, metadata={"help": "LoRA rank"})
    lora_alpha: int = field(default=32, metadata={"help": "LoRA alpha (the scale is alpha / r)"})
    lora_dropout: float = field(default=0.05, metadata={"help": "dropout on the LoRA input"})
    lora_targets: str = field(
        default="attention,mlp,audio_ffn",
        metadata={"help": "comma-separated groups: attention, mlp, audio_ffn, heads (the output heads)"},
    )
    merge_adapter: bool = field(
        default=False, metadata={"help": "also save the model with the adapter merged in, to merged/"}
    )


@dataclass
class RecipeArguments:
    demo: bool = field(
        default=False, metadata={"help": "tiny random model, synthetic data, nothing downloaded (runs on a CPU)"}
    )
    demo_audio: bool = field(
        default=False,
        metadata={
            "help": "with --demo: start from real WAV files (varied rates, channels and formats, written to "
            "<output_dir>/demo_data/clips) and a tiny random audio tokenizer of the backend, and decode the sample to "
            "generated.wav"
        },
    )
    llm_gradient_checkpointing: bool = field(
        default=False, metadata={"help": "checkpoint the LLM decoder layers (--gradient_checkpointing does the same)"}
    )
    text_loss_weight: float = field(default=1.0, metadata={"help": "weight of the text cross-entropy"})
    audio_loss_weight: float = field(default=1.0, metadata={"help": "weight of the audio cross-entropy"})
    generate_text: str | None = field(default=None, metadata={"help": "after training, generate this sentence"})
    generate_max_new_tokens: int | None = field(
        default=None,
        metadata={
            "help": f"audio frames to generate at most ({FRAME_RATE} a second); default: enough for the text "
            "(2 s plus 0.6 s a word, at most 2048)"
        },
    )
    generate_temperature: float = field(
        default=0.7, metadata={"help": "sampling temperature (0: greedy); the serve engine's default"}
    )
    generate_top_p: float = field(default=0.95, metadata={"help": "nucleus sampling; the serve engine's default"})
    generate_top_k: int | None = field(default=None, metadata={"help": "top-k sampling (off, as in the serve engine)"})
    generate_ras_window: int = field(
        default=7, metadata={"help": "repetition-aware sampling window in frames (0: off); the serve engine's default"}
    )
    generate_ras_max_repeat: int = field(
        default=2, metadata={"help": "repetitions within the window that trigger a resample"}
    )
    generate_seed: int | None = field(default=None, metadata={"help": "seed for sampling (default: --seed)"})
    generate_scene: str | None = field(
        default=None, metadata={"help": "scene description for the sample; default: the first training utterance's"}
    )
    generate_speaker: str | None = field(
        default=None, metadata={"help": "speaker description for the sample; default: the first training utterance's"}
    )
    generate_ref_audio: str | None = field(
        default=None,
        metadata={
            "help": "reference clip (WAV or .npy codes) to clone in the sample; default: the first training "
            "utterance's, when the training data clones a voice"
        },
    )
    generate_ref_text: str | None = field(default=None, metadata={"help": "transcript of --generate_ref_audio"})
    benchmark: bool = field(default=False, metadata={"help": "time training steps instead of training"})
    benchmark_steps: int = field(default=10, metadata={"help": "timed steps (after 2 warm-up steps)"})
    benchmark_batch_size: int = field(default=2, metadata={"help": "batch size of the timed steps"})
    benchmark_seq_len: int = field(default=512, metadata={"help": "positions per sample (half text, half audio)"})
    benchmark_released: bool = field(
        default=False,
        metadata={
            "help": "benchmark the released architecture (Llama-3.2-3B widths, a text and an audio FFN on every "
            "layer, 8 codebooks of 1024) with random weights: nothing is downloaded"
        },
    )
    benchmark_layers: int = field(
        default=28, metadata={"help": "decoder layers of --benchmark_released (28 as released; fewer for a quick try)"}
    )
    eval_generate: int = field(
        default=0,
        metadata={
            "help": "at each evaluation and before the first step, generate this many held-out utterances and log "
            "eval_wer, eval_cer and eval_speaker_similarity (needs --eval_manifest or --eval_fraction)"
        },
    )
    asr_model: str = field(
        default=ASR_MODEL,
        metadata={"help": "speech recognition model (hub id or folder) for --eval_generate's WER and CER"},
    )
    speaker_model: str = field(
        default=SPEAKER_MODEL,
        metadata={"help": "speaker-verification model (x-vector head) for --eval_generate's speaker similarity"},
    )


# The demo's embedded default: several epochs of a tiny model on a CPU in seconds.
DEMO_DEFAULTS = [
    "--num_train_epochs",
    "30",
    "--per_device_train_batch_size",
    "4",
    "--learning_rate",
    "1e-2",
    "--warmup_steps",
    "0",
    "--logging_steps",
    "1",
    "--save_strategy",
    "no",
    "--seed",
    "0",
    "--lora_r",
    "8",
    "--lora_alpha",
    "16",
    "--lora_dropout",
    "0.0",
    # The tiny model's output heads are random, unlike a real checkpoint's: adapt them too.
    "--lora_targets",
    "attention,mlp,audio_ffn,heads",
    # Also what makes the Trainer's DDP run on CPU processes under torchrun (gloo backend).
    "--use_cpu",
    "true",
    "--generate_text",
    "Hello there.",
    "--generate_max_new_tokens",
    "24",
    "--generate_temperature",
    "0",
    "--generate_ras_window",
    "0",
]

# What the demo adds with --eval_generate: two held-out utterances, scored at the start, halfway and the end.
DEMO_EVAL_DEFAULTS = ["--eval_fraction", "0.25", "--eval_strategy", "steps", "--eval_steps", "30"]

DATACLASSES = (ModelArguments, DataArguments, LoraArguments, RecipeArguments)


def parse_arguments(argv: list[str] | None = None) -> tuple[Any, ...]:
    """``(model, data, lora, recipe, training)`` argument dataclasses.

    A first argument ending in ``.yaml``, ``.yml`` or ``.json`` is a config file; the rest of the
    command line overrides it.

    Raises:
        RecipeError: an unknown option, a bad value, an unreadable config file.
    """
    from transformers import HfArgumentParser, TrainingArguments
    from transformers.hf_argparser import DataClassType

    argv = list(sys.argv[1:] if argv is None else argv)
    if any(flag in argv for flag in HELP_FLAGS):
        sys.stdout.write(recipe_help(DATACLASSES, all_options="--help-all" in argv))
        raise SystemExit(0)
    # HfArgumentParser reads a YAML or JSON file itself (parse_yaml_file, parse_json_file), but as
    # the whole configuration: no command-line option can override it, and its values skip
    # argparse's conversions and checks. The merge it does offer (parse_args_into_dataclasses'
    # args_filename and args_file_flag) reads a file of whitespace-separated command-line words,
    # not YAML or JSON. So the file's mapping becomes command-line words put before the real ones:
    # argparse converts and checks both alike, and the later value, the command line's, wins.
    from_file: list[str] = []
    if argv and argv[0].endswith((".yaml", ".yml", ".json")):
        from_file = _file_as_arguments(Path(argv.pop(0)))
    combined = from_file + argv
    if _flag_set(combined, "--demo"):
        combined = DEMO_DEFAULTS + (DEMO_EVAL_DEFAULTS if _given(combined, "--eval_generate") else []) + combined
    parser = HfArgumentParser([DataClassType(cls) for cls in (*DATACLASSES, TrainingArguments)])

    def refuse(message: str) -> NoReturn:
        raise RecipeError(f"{message} (see --help)")

    parser.error = refuse  # type: ignore[method-assign]
    try:
        *parsed, unused = parser.parse_args_into_dataclasses(combined, return_remaining_strings=True)
    except (ValueError, TypeError) as exc:  # TrainingArguments' own checks
        raise RecipeError(str(exc).splitlines()[0]) from None
    if unused:
        raise RecipeError(f"unrecognized arguments: {' '.join(unused)} (see --help)")
    training_args = parsed[-1]
    if not _given(combined, "--report_to"):
        # transformers' default reports to every tracker it finds installed; log to TensorBoard
        # when it is there and to nothing else unless asked.
        import importlib.util

        training_args.report_to = ["tensorboard"] if importlib.util.find_spec("tensorboard") else []
    return tuple(parsed)


def _file_as_arguments(path: Path) -> list[str]:
    if not path.is_file():
        raise RecipeError(f"config file {path} not found" if not path.exists() else f"config file {path} is not a file")
    try:
        text = path.read_text(encoding="utf-8")
        values = json.loads(text) if path.suffix == ".json" else _load_yaml(text, path)
    except json.JSONDecodeError as exc:
        raise RecipeError(
            f"config file {path} is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}"
        ) from None
    except RecipeError:
        raise
    except Exception as exc:
        raise RecipeError(f"cannot read config file {path}: {str(exc).splitlines()[0]}") from None
    if not isinstance(values, dict):
        raise RecipeError(f"config file {path} must hold a mapping of option names to values")
    arguments: list[str] = []
    for key, value in values.items():
        if value is None:
            continue
        arguments.append(f"--{key}")
        if isinstance(value, bool):
            arguments.append(str(value).lower())
        elif isinstance(value, (list, tuple)):
            arguments.extend(str(v) for v in value)
        else:
            arguments.append(str(value))
    return arguments


def _load_yaml(text: str, path: Path) -> Any:
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = exc.problem or exc.context or "a syntax error"
        raise RecipeError(f"config file {path} is not valid YAML: {problem}{where}") from None


def _given(argv: list[str], option: str) -> bool:
    return any(a == option or a.startswith(option + "=") for a in argv)


def _flag_set(argv: list[str], option: str) -> bool:
    """Whether a boolean option ends up true: ``--demo``, ``--demo true``, ``--demo=true`` (the
    last occurrence wins, as in argparse)."""
    value = False
    for index, argument in enumerate(argv):
        if argument == option:
            following = argv[index + 1] if index + 1 < len(argv) else "--"
            value = True if following.startswith("--") else following.lower() in ("true", "1", "yes", "y")
        elif argument.startswith(option + "="):
            value = argument.split("=", 1)[1].lower() in ("true", "1", "yes", "y")
    return value
