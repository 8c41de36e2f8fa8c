"""The audio demo's embedded default: a tiny random audio tokenizer of each backend, saved to a folder
the recipe loads like the hub's (``--audio_tokenizer FOLDER``), and a folder of varied real WAVs.

The tokenizers are the real classes (transformers' ``HiggsAudioV2TokenizerModel``, boson's
``HiggsAudioTokenizer`` with the HuBERT it loads) built from small configs with random weights:
what runs is the code path (resampling, channels, shapes, caching, decoding), not a voice. Both
give ``tiny.NUM_CODEBOOKS`` codebooks of ``tiny.CODEBOOK_SIZE`` codes, what the tiny models take.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .tiny import CODEBOOK_SIZE, DEMO_SENTENCES, NUM_CODEBOOKS

__all__ = ["DEMO_CLIPS", "write_demo_clips", "write_tiny_legacy_tokenizer", "write_tiny_native_tokenizer"]


def _randomize_codebooks(embeddings: list, seed: int) -> None:
    # Codebooks start at zero (k-means or EMA fills them in training): every frame would get code 0.
    import torch

    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for embed in embeddings:
            embed.copy_(torch.randn(embed.shape, generator=generator))


def write_tiny_native_tokenizer(folder: Path, seed: int = 0) -> Path:
    """A ``HiggsAudioV2TokenizerModel`` at the release's 24 kHz and 25 frames a second (hop 960),
    about 0.24 M parameters, saved with ``save_pretrained`` and a ``DacFeatureExtractor``.

    The acoustic (DAC) hop must equal the semantic (HuBERT) frames: 24000 / 960 = 25 =
    16000 / 320 / 2 (the semantic downsample factor). The codebook count comes from the last target
    bandwidth: 500 bit/s / (25 frames/s * 5 bits) = 4.
    """
    import torch
    from transformers import DacFeatureExtractor, HiggsAudioV2TokenizerConfig, HiggsAudioV2TokenizerModel

    ratios = [8, 5, 4, 2, 3]
    config = HiggsAudioV2TokenizerConfig(
        sample_rate=24000,
        codebook_size=CODEBOOK_SIZE,
        codebook_dim=8,
        target_bandwidths=[NUM_CODEBOOKS * 25 * int(np.log2(CODEBOOK_SIZE)) / 1000],
        # As dicts: the config fills in the rest from its defaults for each model type.
        acoustic_model_config={
            "model_type": "dac",
            "encoder_hidden_size": 4,
            "decoder_hidden_size": 32,  # halved at each of the 5 upsampling stages
            "hidden_size": 8,
            "codebook_size": CODEBOOK_SIZE,
            "downsampling_ratios": ratios,
            "upsampling_ratios": ratios,
            "sampling_rate": 24000,
        },
        semantic_model_config={
            "model_type": "hubert",
            "hidden_size": 16,
            "num_hidden_layers": 1,
            "num_attention_heads": 2,
            "intermediate_size": 16,
            "conv_dim": (4,) * 7,
            "num_conv_pos_embeddings": 16,
            "num_conv_pos_embedding_groups": 2,
        },
    )
    assert config.num_quantizers == NUM_CODEBOOKS and config.frame_rate == 25
    torch.manual_seed(seed)
    model = HiggsAudioV2TokenizerModel(config).eval()
    codebooks = [quantizer.codebook for quantizer in model.quantizer.quantizers]
    _randomize_codebooks([codebook.embed for codebook in codebooks], seed)
    for codebook in codebooks:
        codebook.embed_avg.copy_(codebook.embed)
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    DacFeatureExtractor(feature_size=1, sampling_rate=config.sample_rate, hop_length=config.hop_length).save_pretrained(
        folder
    )
    return folder


# boson's HiggsAudioTokenizer fixes the semantic width at 768 (HuBERT base), the acoustic encoder's
# first width at 64 and its decoder's at 1024; what a config can shrink is the number of
# downsampling stages (3 here: 16 kHz, hop 320, 50 frames a second, as the HuBERT frames) and the
# HuBERT depth. About 45 M parameters; encoding a second of audio takes a fraction of a second on a CPU.
LEGACY_TOKENIZER_CONFIG = {
    "n_filters": 32,
    "D": 8,
    "target_bandwidths": [1],
    "ratios": [4, 8, 10],
    "sample_rate": 16000,
    "bins": CODEBOOK_SIZE,
    "n_q": NUM_CODEBOOKS,
    "codebook_dim": None,
    "semantic_techer": "hubert_base_general",
    "semantic_sample_rate": 16000,
    "last_layer_semantic": True,
    "merge_mode": "concat",
    "downsample_mode": "step_down",
    "semantic_mode": "classic",
    "vq_scale": 1,
}


def write_tiny_legacy_tokenizer(folder: Path, seed: int = 0) -> Path:
    """boson's ``HiggsAudioTokenizer`` as ``load_higgs_audio_tokenizer`` reads it (``config.json`` +
    ``model.pth``), with the HuBERT it loads by hub name saved beside it in ``hubert_base/`` (the
    recipe's loader takes that folder instead of the hub's)."""
    import torch
    from transformers import HubertConfig, HubertModel

    from .legacy.audio import HUBERT_FOLDER, HiggsAudioTokenizerEncoder

    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    HubertModel(
        HubertConfig(
            hidden_size=768,  # fixed by boson's tokenizer
            num_hidden_layers=1,
            num_attention_heads=2,
            intermediate_size=16,
            conv_dim=(8,) * 7,
            num_conv_pos_embeddings=16,
            num_conv_pos_embedding_groups=16,
        )
    ).save_pretrained(folder / HUBERT_FOLDER)
    (folder / "config.json").write_text(json.dumps(LEGACY_TOKENIZER_CONFIG, indent=2))
    # Built through the recipe's own loader from the config and an empty state dict (boson loads
    # it with strict=False), so the HuBERT redirection is what builds the semantic model.
    torch.save({}, folder / "model.pth")
    tokenizer = HiggsAudioTokenizerEncoder(str(folder)).load()
    layers = tokenizer.quantizer.vq.layers
    _randomize_codebooks([layer._codebook.embed for layer in layers], seed)
    for layer in layers:
        layer._codebook.embed_avg.copy_(layer._codebook.embed)
        layer._codebook.inited.fill_(1)  # else the first encode runs k-means over the clip
    torch.save(tokenizer.state_dict(), folder / "model.pth")
    return folder


# (relative path, sample rate, channels, soundfile subtype): every kind of WAV a user's folder holds.
DEMO_CLIPS = [
    ("clip_01.wav", 24000, 1, "PCM_16"),
    ("clip_02.WAV", 16000, 2, "PCM_16"),
    ("speaker_a/clip_03.wav", 44100, 2, "FLOAT"),
    ("speaker_a/clip_04.wav", 22050, 1, "PCM_24"),
    ("speaker_b/deeper/clip_05.WAV", 48000, 1, "FLOAT"),
    ("speaker_b/clip_06.wav", 8000, 2, "PCM_16"),
]


def write_demo_clips(folder: Path, seed: int = 0) -> list[Path]:
    """Write ``DEMO_CLIPS`` (a tone glide with noise, 0.5 to 1 s) and a transcript beside each."""
    import soundfile

    rng = np.random.default_rng(seed)
    written = []
    for index, (name, rate, channels, subtype) in enumerate(DEMO_CLIPS):
        seconds = 0.5 + 0.1 * index
        t = np.arange(int(seconds * rate)) / rate
        pitch = 150 + 40 * index
        tone = 0.3 * np.sin(2 * np.pi * (pitch + 50 * t) * t) + 0.02 * rng.standard_normal(t.size)
        samples = np.stack([tone * (1 - 0.3 * c) for c in range(channels)], axis=1)
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        soundfile.write(str(path), samples.astype(np.float32), rate, subtype=subtype)
        path.with_suffix(".txt").write_text(DEMO_SENTENCES[index % len(DEMO_SENTENCES)] + "\n", encoding="utf-8")
        written.append(path)
    return written
