"""transformers configurations at the smallest size that still runs: one layer, two heads, 16 wide,
a vocabulary of 64. Random weights of these build in milliseconds and need no hub."""

from __future__ import annotations

from typing import Any

SMALL = {"vocab_size": 64, "hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2}
SMALL_T5 = {
    "vocab_size": 64,
    "d_model": 16,
    "d_kv": 8,
    "d_ff": 32,
    "num_layers": 1,
    "num_heads": 2,
    "decoder_start_token_id": 0,
    "dropout_rate": 0.0,
}


def tiny_config(config_class: type, **overrides: Any) -> Any:
    """``config_class`` (a BERT- or Llama-style config) at the small size, with ``overrides``."""
    return config_class(**{**SMALL, **overrides})


def tiny_t5_config(config_class: type, **overrides: Any) -> Any:
    """``config_class`` (T5 or MT5) at the small size, without dropout, with ``overrides``."""
    return config_class(**{**SMALL_T5, **overrides})


def tiny_llama_config(**overrides: Any) -> Any:
    from transformers import LlamaConfig

    return tiny_config(LlamaConfig, **{"num_key_value_heads": 1, "pad_token_id": 0, **overrides})
