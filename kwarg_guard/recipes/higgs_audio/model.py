"""Loading HiggsAudioModel, adding LoRA through PEFT (task_type="CAUSAL_LM", kept on purpose), and
guarding it with the ``higgs_audio`` preset."""

from __future__ import annotations

import logging

import torch

from kwarg_guard import guard

from .checkpointing import checkpoint_llm_layers

__all__ = ["LORA_TARGETS", "lora_target_regex", "load_model", "prepare_model", "trainable_parameter_names"]

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


def lora_target_regex(groups) -> str:
    """``"attention,audio_ffn"`` (or a list) -> one regex PEFT full-matches against module names."""
    if isinstance(groups, str):
        groups = [g.strip() for g in groups.split(",") if g.strip()]
    unknown = [g for g in groups if g not in LORA_TARGETS]
    if unknown or not groups:
        raise ValueError(f"unknown LoRA target group(s) {unknown or groups}; choose from {', '.join(LORA_TARGETS)}")
    return r".*(" + "|".join(LORA_TARGETS[g] for g in groups) + r")"


def resolve_dtype(name: str) -> torch.dtype:
    if name == "auto":
        if torch.cuda.is_available() and torch.cuda.is_bf16_supported():
            return torch.bfloat16
        return torch.float32
    try:
        return {"bfloat16": torch.bfloat16, "float16": torch.float16, "float32": torch.float32}[name]
    except KeyError:
        raise ValueError(f"torch_dtype must be auto, bfloat16, float16 or float32, not {name!r}") from None


def load_model(model_args, demo_seed: int | None = None):
    """The base model: the tiny random one for the demo, else ``from_pretrained`` in the chosen dtype.

    Weights are loaded in bf16 rather than relying on autocast: under autocast, ``_embed_audio_ids``
    can write fp32 into a bf16 buffer ("Index put requires the source and destination dtypes match").
    """
    if demo_seed is not None:
        from .tiny import tiny_model

        return tiny_model(demo_seed)
    from boson_multimodal.model.higgs_audio import HiggsAudioModel

    dtype = resolve_dtype(model_args.torch_dtype)
    LOGGER.info("loading %s in %s", model_args.model_name_or_path, dtype)
    return HiggsAudioModel.from_pretrained(model_args.model_name_or_path, torch_dtype=dtype)


def prepare_model(model, lora_args, llm_gradient_checkpointing: bool):
    """Checkpointing, LoRA (or full fine-tuning) and the guard; returns the model to train."""
    model.config.use_cache = False
    if llm_gradient_checkpointing:
        LOGGER.info("checkpointing %d LLM layers", checkpoint_llm_layers(model))
    if lora_args.full_finetune:
        trainable = model
    else:
        from peft import LoraConfig, get_peft_model

        config = LoraConfig(
            task_type="CAUSAL_LM",  # what every tutorial uses; the preset is what makes it work here
            r=lora_args.lora_r,
            lora_alpha=lora_args.lora_alpha,
            lora_dropout=lora_args.lora_dropout,
            target_modules=lora_target_regex(lora_args.lora_targets),
        )
        trainable = get_peft_model(model, config)
    # The guard goes on the HiggsAudioModel inside whatever wraps it (PEFT now, DDP later).
    return guard(trainable, preset="higgs_audio")


def trainable_parameter_names(model) -> list:
    return [name for name, parameter in model.named_parameters() if parameter.requires_grad]
