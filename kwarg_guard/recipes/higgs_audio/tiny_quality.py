"""Tiny random scoring models for the demo and the tests: a Whisper ASR model and a WavLM speaker
encoder, built from small configs, saved with ``save_pretrained`` and loaded back by the same code
that loads ``openai/whisper-large-v3`` and ``microsoft/wavlm-base-plus-sv``. Nothing is downloaded;
their transcripts and similarities are noise, what runs is the scoring path.
"""

from __future__ import annotations

import json
from pathlib import Path

__all__ = ["write_tiny_asr", "write_tiny_speaker_model"]

# Whisper's special tokens that its generation and decoding look up by name.
_WHISPER_SPECIALS = ["<|endoftext|>", "<|startoftranscript|>", "<|en|>", "<|transcribe|>", "<|notimestamps|>"]


def _byte_symbols() -> dict[int, str]:
    """GPT-2's byte-to-symbol table, which Whisper's byte-level BPE vocabulary is written in."""
    printable = [*range(ord("!"), ord("~") + 1), *range(0xA1, 0xAD), *range(0xAE, 0x100)]
    symbols = {byte: chr(byte) for byte in printable}
    extra = (byte for byte in range(256) if byte not in symbols)
    symbols.update({byte: chr(256 + index) for index, byte in enumerate(extra)})
    return symbols


def write_tiny_asr(folder: Path, seed: int = 0) -> Path:
    """A ``WhisperForConditionalGeneration`` (about 20 k parameters) with its ``WhisperProcessor``.

    The vocabulary is printable ASCII, one byte a token (no merges), so a random transcript is
    readable characters rather than broken UTF-8.
    """
    import torch
    from transformers import (
        WhisperConfig,
        WhisperFeatureExtractor,
        WhisperForConditionalGeneration,
        WhisperProcessor,
        WhisperTokenizer,
    )

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    symbols = _byte_symbols()
    vocab = {symbols[byte]: index for index, byte in enumerate(range(32, 127))}
    vocab.update({token: len(vocab) + index for index, token in enumerate(_WHISPER_SPECIALS)})
    (folder / "vocab.json").write_text(json.dumps(vocab), encoding="utf-8")
    (folder / "merges.txt").write_text("#version: 0.2\n", encoding="utf-8")
    end = "<|endoftext|>"
    tokenizer = WhisperTokenizer(
        str(folder / "vocab.json"), str(folder / "merges.txt"), unk_token=end, bos_token=end, eos_token=end
    )
    WhisperProcessor(feature_extractor=WhisperFeatureExtractor(feature_size=16), tokenizer=tokenizer).save_pretrained(
        folder
    )
    config = WhisperConfig(
        vocab_size=len(vocab),
        num_mel_bins=16,
        d_model=16,
        encoder_layers=1,
        decoder_layers=1,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        encoder_ffn_dim=32,
        decoder_ffn_dim=32,
        max_source_positions=1500,  # 30 s of 16 kHz audio after the conv stride, as Whisper's
        max_target_positions=32,
        decoder_start_token_id=vocab["<|startoftranscript|>"],
        bos_token_id=vocab[end],
        eos_token_id=vocab[end],
        pad_token_id=vocab[end],
    )
    torch.manual_seed(seed)
    model = WhisperForConditionalGeneration(config)
    model.generation_config.max_length = 16
    model.save_pretrained(folder)
    return folder


def write_tiny_speaker_model(folder: Path, seed: int = 0) -> Path:
    """A ``WavLMForXVector`` (about 30 k parameters) with its ``Wav2Vec2FeatureExtractor`` at 16 kHz."""
    import torch
    from transformers import Wav2Vec2FeatureExtractor, WavLMConfig, WavLMForXVector

    folder = Path(folder)
    config = WavLMConfig(
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=16,
        conv_dim=(8,) * 7,
        num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=2,
        tdnn_dim=(8,) * 5,
        xvector_output_dim=8,
        num_buckets=16,
        max_bucket_distance=32,
    )
    torch.manual_seed(seed)
    WavLMForXVector(config).save_pretrained(folder)
    Wav2Vec2FeatureExtractor(sampling_rate=16000, return_attention_mask=True).save_pretrained(folder)
    return folder
