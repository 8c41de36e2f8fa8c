"""Facts of the released Higgs Audio v2 model, written once for both ports.

What the hub's ``bosonai/higgs-audio-v2-generation-3B-base`` and its audio tokenizer are: the two
``model_type`` strings, the last snapshots in boson_multimodal's format, the audio frame rate, the
special token ids, and the architecture (a Llama-3.2-3B text model with a dual text/audio FFN on
every layer, 8 codebooks of 1024 codes).
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "FRAME_RATE",
    "LEGACY_AUDIO_TOKENIZER_REVISION",
    "LEGACY_MODEL_REVISION",
    "LEGACY_MODEL_TYPE",
    "NATIVE_MODEL_TYPE",
    "SPECIAL_TOKEN_IDS",
    "TOKEN_IDS",
    "native_config_values",
]

# config.json's model_type: boson_multimodal's format, and transformers 5's.
LEGACY_MODEL_TYPE = "higgs_audio"
NATIVE_MODEL_TYPE = "higgs_audio_v2"

# The last snapshots of the hub repositories before they were rewritten (April 2026) in the
# transformers-native format, which boson_multimodal cannot load.
LEGACY_MODEL_REVISION = "10840182ca4ad5d9d9113b60b9bb3c1ef1ba3f84"
LEGACY_AUDIO_TOKENIZER_REVISION = "9d4988fbd4ad07b4cac3a5fa462741a41810dbec"

FRAME_RATE = 25  # audio frames per second of the Higgs audio tokenizer

# The released tokenizer's special tokens the ports name in their configs.
TOKEN_IDS = {
    "bos": 128000,  # <|begin_of_text|>
    "pad": 128001,
    "eot": 128009,  # <|eot_id|>
    "audio_eos": 128012,  # <|audio_eos|>
    "audio_out_bos": 128013,  # <|audio_out_bos|>
    "audio_delay": 128014,  # the native port's delay placeholder
    "audio_in": 128015,  # <|AUDIO|>
    "audio_out": 128016,  # <|AUDIO_OUT|>
}

# The same tokens by their names in the released tokenizer, with the Llama 3 header tokens the
# prompts use; a character tokenizer built on these ids drives a random-weight model of the
# released architecture (``--benchmark_released``) as the released tokenizer would.
SPECIAL_TOKEN_IDS = {
    "<|begin_of_text|>": TOKEN_IDS["bos"],
    "<|end_of_text|>": TOKEN_IDS["pad"],
    "<|start_header_id|>": 128006,
    "<|end_header_id|>": 128007,
    "<|eom_id|>": 128008,
    "<|eot_id|>": TOKEN_IDS["eot"],
    "<|audio_bos|>": 128011,
    "<|audio_eos|>": TOKEN_IDS["audio_eos"],
    "<|audio_out_bos|>": TOKEN_IDS["audio_out_bos"],
    "<|reserved_special_token_6|>": TOKEN_IDS["audio_delay"],
    "<|AUDIO|>": TOKEN_IDS["audio_in"],
    "<|AUDIO_OUT|>": TOKEN_IDS["audio_out"],
}


def native_config_values(num_hidden_layers: int = 28) -> dict[str, Any]:
    """The released model as ``HiggsAudioV2Config`` keyword values (the legacy config is derived
    from these by the converter), with ``num_hidden_layers`` layers."""
    return {
        "vocab_size": 128256,
        "hidden_size": 3072,
        "intermediate_size": 8192,
        "num_hidden_layers": num_hidden_layers,
        "num_attention_heads": 24,
        "num_key_value_heads": 8,
        "head_dim": 128,
        "hidden_act": "silu",
        "max_position_embeddings": 131072,
        "rms_norm_eps": 1e-5,
        "pad_token_id": TOKEN_IDS["pad"],
        "bos_token_id": TOKEN_IDS["bos"],
        "rope_parameters": {
            "rope_type": "llama3",
            "rope_theta": 500000.0,
            "factor": 32.0,
            "high_freq_factor": 4.0,
            "low_freq_factor": 1.0,
            "original_max_position_embeddings": 8192,
        },
        "num_codebooks": 8,
        "codebook_size": 1026,  # 1024 codes plus the stream bos and eos
        "audio_token_id": TOKEN_IDS["audio_out"],
        "audio_bos_token_id": TOKEN_IDS["audio_out_bos"],
        "audio_stream_bos_id": 1024,
        "audio_stream_eos_id": 1025,
    }
