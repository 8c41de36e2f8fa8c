"""This stack's real audio tokenizer (boson's HiggsAudioTokenizer on 4.46, transformers'
HiggsAudioV2TokenizerModel on 5), tiny and random, saved to a folder and loaded back through the
recipe's loader as ``--audio_tokenizer FOLDER``; real WAV files of every kind go through it."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import soundfile
import torch

from kwarg_guard.recipes.higgs_audio.codes import CodeCache, load_codes
from kwarg_guard.recipes.higgs_audio.manifest import read_manifest
from kwarg_guard.recipes.higgs_audio.tiny import CODEBOOK_SIZE, NUM_CODEBOOKS
from tests.helpers import needs_torchaudio
from tests.helpers.higgs_audio import BACKEND

pytestmark = needs_torchaudio


def model_args(folder, device=None):
    return SimpleNamespace(
        audio_tokenizer=str(folder), audio_tokenizer_revision=None, hubert_revision=None, audio_tokenizer_device=device
    )


@pytest.fixture(scope="module")
def encoder(tmp_path_factory):
    folder = BACKEND.write_tiny_audio_tokenizer(tmp_path_factory.mktemp("tokenizer"))
    return BACKEND.audio_encoder(model_args(folder))


def tone(seconds, rate, channels=1):
    t = np.arange(int(seconds * rate)) / rate
    mono = 0.4 * np.sin(2 * np.pi * 220 * t) + 0.05 * np.sin(2 * np.pi * 1300 * t)
    return np.repeat(mono[:, None], channels, axis=1).astype(np.float32)


def write(path, seconds, rate, channels=1, subtype="PCM_16"):
    path.parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(str(path), tone(seconds, rate, channels), rate, subtype=subtype)
    return path


def test_the_saved_folder_loads_through_the_recipe_loader(encoder, tmp_path):
    assert encoder.device == ("cuda" if torch.cuda.is_available() else "cpu")  # the default device
    codes = encoder.encode(write(tmp_path / "a.wav", 1.0, encoder.sampling_rate))
    assert codes.dtype == np.int64 and codes.shape[0] == NUM_CODEBOOKS
    assert abs(codes.shape[1] - encoder.sampling_rate / encoder.hop_length) <= 1
    assert codes.min() >= 0 and codes.max() < CODEBOOK_SIZE
    assert len(np.unique(codes)) > 1  # the codebooks were filled: not every frame is code 0


def test_audio_tokenizer_device_is_passed_to_the_tokenizer(tmp_path):
    assert BACKEND.audio_encoder(model_args(tmp_path, device="cuda:3")).device == "cuda:3"


@pytest.mark.parametrize("rate", [8000, 22050, 44100, 48000])
def test_every_sample_rate_is_resampled_to_the_tokenizers(encoder, tmp_path, rate):
    codes = encoder.encode(write(tmp_path / "clip.wav", 0.8, rate))
    native = encoder.encode(write(tmp_path / "native.wav", 0.8, encoder.sampling_rate))
    assert codes.shape == native.shape


def test_stereo_is_averaged_to_mono(encoder, tmp_path):
    stereo = encoder.encode(write(tmp_path / "stereo.wav", 0.8, 44100, channels=2, subtype="FLOAT"))
    mono = encoder.encode(write(tmp_path / "mono.wav", 0.8, 44100, channels=1, subtype="FLOAT"))
    np.testing.assert_array_equal(stereo, mono)


@pytest.mark.parametrize("subtype", ["PCM_16", "PCM_24", "FLOAT"])
def test_sample_formats_and_an_upper_case_extension_in_a_subfolder(encoder, tmp_path, subtype):
    codes = encoder.encode(write(tmp_path / "speaker" / "CLIP.WAV", 0.6, 16000, subtype=subtype))
    assert codes.shape[0] == NUM_CODEBOOKS and codes.shape[1] > 0


def test_decode_gives_a_hop_of_samples_per_frame(encoder, tmp_path):
    codes = encoder.encode(write(tmp_path / "clip.wav", 0.7, 24000))
    waveform = encoder.decode(codes)
    assert waveform.dtype == np.float32 and waveform.ndim == 1
    assert waveform.shape[0] == codes.shape[1] * encoder.hop_length


def test_the_code_cache_encodes_each_clip_once(encoder, tmp_path):
    clips = [write(tmp_path / "a.wav", 0.5, 16000), write(tmp_path / "b" / "c.WAV", 0.6, 44100, channels=2)]
    manifest = tmp_path / "manifest.jsonl"
    manifest.write_text("".join(f'{{"text": "hi", "audio": "{c.relative_to(tmp_path)}"}}\n' for c in clips))
    utterances = read_manifest(manifest, NUM_CODEBOOKS, CODEBOOK_SIZE)
    first = CodeCache(tmp_path / "cache", encoder)
    codes = load_codes(utterances, first, NUM_CODEBOOKS, CODEBOOK_SIZE, manifest)
    entries = {p: p.stat().st_mtime_ns for p in (tmp_path / "cache").glob("*.npy")}
    again = CodeCache(tmp_path / "cache", encoder)
    cached = load_codes(utterances, again, NUM_CODEBOOKS, CODEBOOK_SIZE, manifest)
    assert (first.encoded, first.reused, again.encoded, again.reused) == (2, 0, 0, 2)
    assert {p: p.stat().st_mtime_ns for p in (tmp_path / "cache").glob("*.npy")} == entries and len(entries) == 2
    for (a, _), (b, _) in zip(codes, cached, strict=True):
        np.testing.assert_array_equal(a, b)
