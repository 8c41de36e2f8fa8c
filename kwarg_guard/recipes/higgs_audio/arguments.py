"""The recipe's options: dataclasses parsed by ``HfArgumentParser`` from the command line or a
YAML/JSON file, next to the Trainer's own ``TrainingArguments``."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Optional

__all__ = ["ModelArguments", "DataArguments", "LoraArguments", "RecipeArguments", "parse_arguments", "DEMO_DEFAULTS"]


@dataclass
class ModelArguments:
    model_name_or_path: str = field(
        default="bosonai/higgs-audio-v2-generation-3B-base", metadata={"help": "Higgs Audio checkpoint (hub id or folder)"}
    )
    tokenizer_name_or_path: Optional[str] = field(default=None, metadata={"help": "defaults to model_name_or_path"})
    audio_tokenizer: str = field(
        default="bosonai/higgs-audio-v2-tokenizer",
        metadata={"help": "Higgs audio tokenizer (hub id or folder), used to encode WAVs and decode the generated sample"},
    )
    torch_dtype: str = field(
        default="auto", metadata={"help": "auto (bf16 on a GPU that has it, else fp32), bfloat16, float16, float32"}
    )


@dataclass
class DataArguments:
    train_manifest: Optional[str] = field(default=None, metadata={"help": "JSONL manifest (see docs/higgs-audio.md)"})
    code_cache_dir: Optional[str] = field(
        default=None, metadata={"help": "where encoded audio codes are kept (default: <manifest folder>/.higgs_codes)"}
    )


@dataclass
class LoraArguments:
    full_finetune: bool = field(default=False, metadata={"help": "train every weight instead of LoRA adapters"})
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    lora_targets: str = field(
        default="attention,mlp,audio_ffn",
        metadata={"help": "comma-separated groups: attention, mlp, audio_ffn, heads (the text and audio output heads)"},
    )
    merge_adapter: bool = field(default=False, metadata={"help": "also save the model with the adapter merged in"})


@dataclass
class RecipeArguments:
    demo: bool = field(
        default=False, metadata={"help": "tiny random model, synthetic data, nothing downloaded (runs on a CPU)"}
    )
    llm_gradient_checkpointing: bool = field(
        default=False, metadata={"help": "checkpoint the LLM decoder layers (the official model never does)"}
    )
    text_loss_weight: float = 1.0
    audio_loss_weight: float = 1.0
    generate_text: Optional[str] = field(default=None, metadata={"help": "after training, generate this sentence"})
    generate_max_new_tokens: int = 64
    benchmark: bool = field(default=False, metadata={"help": "time training steps instead of training"})
    benchmark_steps: int = 10
    benchmark_batch_size: int = 2
    benchmark_seq_len: int = 512


# The demo's embedded default: several epochs of a tiny model on a CPU in about a minute.
DEMO_DEFAULTS = [
    "--num_train_epochs", "30",
    "--per_device_train_batch_size", "4",
    "--learning_rate", "1e-2",
    "--warmup_steps", "0",
    "--logging_steps", "1",
    "--save_strategy", "no",
    "--seed", "0",
    "--lora_r", "8",
    "--lora_alpha", "16",
    "--lora_dropout", "0.0",
    # The tiny model's output heads are random, unlike a real checkpoint's: adapt them too.
    "--lora_targets", "attention,mlp,audio_ffn,heads",
    "--disable_tqdm", "true",
    # Also what makes the Trainer's DDP run on CPU processes under torchrun (gloo backend).
    "--use_cpu", "true",
    "--generate_text", "Hello there.",
    "--generate_max_new_tokens", "24",
]


def parse_arguments(argv=None):
    """``(model, data, lora, recipe, training)`` argument dataclasses.

    One ``.yaml``/``.yml``/``.json`` path reads everything from that file; otherwise the command
    line is parsed, with the demo's defaults first when ``--demo`` is given (later flags win).
    """
    from transformers import HfArgumentParser, TrainingArguments

    argv = list(sys.argv[1:] if argv is None else argv)
    parser = HfArgumentParser((ModelArguments, DataArguments, LoraArguments, RecipeArguments, TrainingArguments))
    if len(argv) == 1 and argv[0].endswith((".yaml", ".yml")):
        return parser.parse_yaml_file(argv[0])
    if len(argv) == 1 and argv[0].endswith(".json"):
        return parser.parse_json_file(argv[0])
    if "--demo" in argv:
        argv = DEMO_DEFAULTS + argv
    return parser.parse_args_into_dataclasses(argv)
