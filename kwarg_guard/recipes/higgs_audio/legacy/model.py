"""The legacy port's model: boson_multimodal's ``HiggsAudioModel`` (transformers 4.46).

* Loaded at the pinned legacy snapshot, in the training dtype (see ``load_model``).
* LoRA goes on the groups in ``LORA_TARGETS``, by this port's module names.
* Activation checkpointing is the recipe's own (``checkpointing.py``): the model has none for its
  decoder layers.
"""

from __future__ import annotations

import logging
from typing import Any

from ..finetune import resolve_dtype

__all__ = ["LORA_TARGETS", "load_model", "model_from_config"]

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


def load_model(model_args: Any, demo_seed: int | None = None, full_finetune: bool = False) -> Any:
    """The legacy base model: the tiny random one for the demo, else ``from_pretrained`` at the
    pinned revision in the chosen dtype.

    Weights are loaded in the training dtype rather than relying on autocast for a LoRA run:
    under autocast, ``_embed_audio_ids`` can write fp32 into a bf16 buffer ("Index put requires
    the source and destination dtypes match").
    """
    if demo_seed is not None:
        from ..tiny import tiny_model

        return tiny_model(demo_seed)
    from boson_multimodal.model.higgs_audio import HiggsAudioModel

    dtype = resolve_dtype(model_args.torch_dtype, full_finetune)
    LOGGER.info("loading %s@%s in %s", model_args.model_name_or_path, model_args.model_revision, dtype)
    return HiggsAudioModel.from_pretrained(
        model_args.model_name_or_path, revision=model_args.model_revision, torch_dtype=dtype
    )


def model_from_config(config: Any) -> Any:
    """A randomly initialised ``HiggsAudioModel`` of ``config`` (benchmarks and memory estimates)."""
    from boson_multimodal.model.higgs_audio import HiggsAudioModel

    return HiggsAudioModel(config)
