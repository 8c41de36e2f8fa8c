"""What is trained and how, the same for both ports: the weights' dtype, activation checkpointing,
LoRA through PEFT (task_type="CAUSAL_LM", kept on purpose: it is what every tutorial uses, and the
backend's preset is what makes it work) or a full fine-tune, and the guard.

Each backend gives its LoRA module names (``lora_targets``), its checkpointing switch and its
preset; loading a model is the backend's own (``legacy/model.py``, ``native/model.py``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import torch

from kwarg_guard import guard

from .arguments import RecipeError

__all__ = ["lora_target_regex", "prepare_model", "resolve_dtype"]

LOGGER = logging.getLogger(__name__)


def lora_target_regex(groups: str | list[str], targets: Mapping[str, str]) -> str:
    """``"attention,audio_ffn"`` (or a list) -> one regex PEFT full-matches against module names.

    Raises:
        RecipeError: an unknown group.
    """
    if isinstance(groups, str):
        groups = [g.strip() for g in groups.split(",") if g.strip()]
    unknown = [g for g in groups if g not in targets]
    if unknown or not groups:
        raise RecipeError(
            f"unknown LoRA target group(s) {', '.join(unknown or groups) or 'none'}; choose from {', '.join(targets)}"
        )
    return r".*(" + "|".join(targets[g] for g in groups) + r")"


def resolve_dtype(name: str, full_finetune: bool = False) -> torch.dtype:
    """The weights' dtype. Full fine-tuning keeps fp32 weights (the optimizer's master copy);
    bf16 compute then comes from ``--bf16`` autocast.

    Raises:
        RecipeError: an unknown name, or half-precision weights for a full fine-tune: AdamW would
            update them in bf16, where most small updates round to nothing, silently.
    """
    choices = {"bfloat16": torch.bfloat16, "float16": torch.float16, "float32": torch.float32}
    if name not in (*choices, "auto"):
        raise RecipeError(f"--torch_dtype must be auto, bfloat16, float16 or float32, not {name!r}")
    if full_finetune:
        if name in ("bfloat16", "float16"):
            raise RecipeError(
                f"--full_finetune with --torch_dtype {name} would update {name} weights directly, and most AdamW "
                "updates round to nothing in half precision; load float32 weights (--torch_dtype auto) and "
                "add --bf16 for bf16 compute"
            )
        return torch.float32
    if name == "auto":
        return torch.bfloat16 if torch.cuda.is_available() and torch.cuda.is_bf16_supported() else torch.float32
    return choices[name]


def check_autocast(weights: torch.dtype, training_args: Any) -> None:
    """Refuse ``--bf16``/``--fp16`` autocast over half-precision weights (a LoRA run in bf16).

    The weights already compute in half precision, so autocast gains nothing, and on a GPU it
    breaks the audio embedding: CUDA autocast runs ``sum`` in fp32, so the summed codebook
    embeddings come out fp32 and cannot be scattered into the bf16 text embeddings (seen on an
    H200: "masked_scatter_: expected self and source to have same dtypes").

    Raises:
        RecipeError: half-precision weights with ``--bf16`` or ``--fp16``.
    """
    flag = "--bf16" if training_args.bf16 else "--fp16" if training_args.fp16 else None
    if flag and weights in (torch.bfloat16, torch.float16):
        raise RecipeError(
            f"{flag} autocast over {str(weights).removeprefix('torch.')} weights breaks the audio embedding on a GPU "
            f"and gains nothing; drop {flag} (LoRA computes in the weights' dtype), or use --full_finetune with "
            "float32 weights for mixed precision"
        )


def prepare_model(model: Any, lora_args: Any, llm_gradient_checkpointing: bool, backend: Any) -> Any:
    """Checkpointing, LoRA (or full fine-tuning) and the backend's guard; returns the model to train."""
    model.config.use_cache = False
    if llm_gradient_checkpointing:
        LOGGER.info("checkpointing %d decoder layers", backend.enable_checkpointing(model))
    if lora_args.full_finetune:
        trainable = model
    else:
        from peft import LoraConfig, get_peft_model

        config = LoraConfig(
            task_type="CAUSAL_LM",
            r=lora_args.lora_r,
            lora_alpha=lora_args.lora_alpha,
            lora_dropout=lora_args.lora_dropout,
            target_modules=lora_target_regex(lora_args.lora_targets, backend.lora_targets),
        )
        trainable = get_peft_model(model, config)
    # The guard goes on the model inside whatever wraps it (PEFT now, DDP later).
    return guard(trainable, preset=backend.preset)
