"""Loading the model, adding LoRA through PEFT (task_type="CAUSAL_LM", kept on purpose: it is what
every tutorial uses, and the backend's preset is what makes it work), and guarding it.

Loading is the legacy backend's (boson_multimodal ``HiggsAudioModel``); LoRA and the guard are
shared, with the module names and the preset each backend gives.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import torch

from kwarg_guard import guard

from .arguments import RecipeError

__all__ = [
    "LORA_TARGETS",
    "load_model",
    "lora_target_regex",
    "prepare_model",
    "resolve_dtype",
    "trainable_parameter_names",
]

LOGGER = logging.getLogger(__name__)

# Module name patterns inside HiggsAudioModel; PEFT full-matches a string target as a regex.
LORA_TARGETS = {
    "attention": r"layers\.\d+\.self_attn\.(q_proj|k_proj|v_proj|o_proj)",
    "mlp": r"layers\.\d+\.mlp\.(gate_proj|up_proj|down_proj)",
    "audio_ffn": r"layers\.\d+\.audio_mlp\.(gate_proj|up_proj|down_proj)",
    # Spelled so the pattern never contains "lm_head": PEFT's save_pretrained treats a target
    # string containing "lm_head" as an embedding layer and calls get_input_embeddings(), which
    # HiggsAudioModel does not implement.
    "heads": r"audio_decoder_proj\.(text_lm|audio_lm)_head",
}


def lora_target_regex(groups: str | list[str], targets: Mapping[str, str] = LORA_TARGETS) -> str:
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


def load_model(model_args: Any, demo_seed: int | None = None, full_finetune: bool = False) -> Any:
    """The legacy base model: the tiny random one for the demo, else ``from_pretrained`` at the
    pinned revision in the chosen dtype.

    Weights are loaded in the training dtype rather than relying on autocast for a LoRA run:
    under autocast, ``_embed_audio_ids`` can write fp32 into a bf16 buffer ("Index put requires
    the source and destination dtypes match").
    """
    if demo_seed is not None:
        from .tiny import tiny_model

        return tiny_model(demo_seed)
    from boson_multimodal.model.higgs_audio import HiggsAudioModel

    dtype = resolve_dtype(model_args.torch_dtype, full_finetune)
    LOGGER.info("loading %s@%s in %s", model_args.model_name_or_path, model_args.model_revision, dtype)
    return HiggsAudioModel.from_pretrained(
        model_args.model_name_or_path, revision=model_args.model_revision, torch_dtype=dtype
    )


def prepare_model(model: Any, lora_args: Any, llm_gradient_checkpointing: bool, backend: Any = None) -> Any:
    """Checkpointing, LoRA (or full fine-tuning) and the backend's guard; returns the model to train."""
    if backend is None:
        from .backends import LEGACY

        backend = LEGACY
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


def trainable_parameter_names(model: Any) -> list[str]:
    return [name for name, parameter in model.named_parameters() if parameter.requires_grad]
