"""Audio to codes, once: WAVs are encoded by an audio tokenizer and cached on disk as .npy files.

The cache key is the file's resolved path, size and modification time plus the encoder's
identity, so editing a clip or changing the tokenizer re-encodes it. Files are written to a
temporary name and renamed into place, so an interrupted run never leaves a half-written entry.
"""

from __future__ import annotations

import hashlib
import importlib
import os
import tempfile
from pathlib import Path
from typing import Protocol

import numpy as np

from .manifest import AudioSource, ManifestError, check_codes

__all__ = ["AudioEncoder", "CodeCache", "HiggsAudioTokenizerEncoder", "NativeAudioTokenizerEncoder", "load_codes"]


class AudioEncoder(Protocol):
    """Anything that turns a WAV file into a (codebooks, frames) integer array."""

    identity: str

    def encode(self, wav: Path) -> np.ndarray: ...


class HiggsAudioTokenizerEncoder:
    """The legacy Higgs audio tokenizer (boson_multimodal), loaded on first use, at pinned revisions.

    It needs packages the training stack does not (descript-audio-codec, vector-quantize-pytorch,
    torchaudio) and its weights from the Hugging Face Hub or a local copy. boson's loader takes no
    revision, and loads ``bosonai/hubert_base`` itself: the tokenizer repository is downloaded at
    ``revision`` first, and the HuBERT load is given ``hubert_revision``.
    """

    def __init__(
        self, name_or_path: str, device: str = "cpu", revision: str | None = None, hubert_revision: str | None = None
    ):
        self.name_or_path = name_or_path
        self.device = device
        self.revision = revision
        self.hubert_revision = hubert_revision
        self.identity = f"higgs-audio-tokenizer:{name_or_path}@{revision or 'main'}"
        self._tokenizer = None

    def load(self):
        """Load the tokenizer now (it loads on first use otherwise); returns it."""
        if self._tokenizer is None:
            try:
                loader = importlib.import_module("boson_multimodal.audio_processing.higgs_audio_tokenizer")
            except ImportError as exc:
                raise ImportError(
                    f"encoding WAV files needs the Higgs audio tokenizer's dependencies ({exc}). Install "
                    "descript-audio-codec, vector-quantize-pytorch and torchaudio, or give the manifest "
                    "precomputed audio_codes."
                ) from exc
            path = self.name_or_path
            if not os.path.exists(path):
                import huggingface_hub

                path = huggingface_hub.snapshot_download(path, revision=self.revision)
            original = loader.AutoModel
            loader.AutoModel = _PinnedAutoModel(original, self.hubert_revision)
            try:
                self._tokenizer = loader.load_higgs_audio_tokenizer(path, device=self.device)
            finally:
                loader.AutoModel = original
        return self._tokenizer

    @property
    def sampling_rate(self) -> int:
        return self.load().sampling_rate

    def encode(self, wav: Path) -> np.ndarray:
        import librosa

        tokenizer = self.load()
        waveform, _ = librosa.load(str(wav), sr=tokenizer.sampling_rate)
        codes = tokenizer.encode(waveform, tokenizer.sampling_rate)
        return np.asarray(codes.squeeze(0).cpu().numpy(), dtype=np.int64)

    def decode(self, codes: np.ndarray) -> np.ndarray:
        import torch

        return self.load().decode(torch.as_tensor(codes).unsqueeze(0))[0, 0]


class _PinnedAutoModel:
    """``transformers.AutoModel`` with a revision for the HuBERT model the legacy tokenizer loads."""

    def __init__(self, auto_model, revision: str | None):
        self.auto_model, self.revision = auto_model, revision

    def from_pretrained(self, name, *args, **kwargs):
        if self.revision and name == "bosonai/hubert_base":
            kwargs.setdefault("revision", self.revision)
        return self.auto_model.from_pretrained(name, *args, **kwargs)


class NativeAudioTokenizerEncoder:
    """The transformers-native Higgs audio tokenizer (``HiggsAudioV2TokenizerModel``, transformers 5).

    It imports torchaudio, which must match the installed torch. Not run by this project's tests:
    no torchaudio build exists for every torch, and the weights come from the hub.
    """

    def __init__(self, name_or_path: str, device: str = "cpu", revision: str | None = None):
        self.name_or_path, self.device, self.revision = name_or_path, device, revision
        self.identity = f"higgs-audio-v2-tokenizer:{name_or_path}@{revision or 'main'}"
        self._model = None

    def load(self):
        if self._model is None:
            try:
                import torchaudio  # noqa: F401 - the tokenizer needs it; say so up front
                from transformers import HiggsAudioV2TokenizerModel
            except ImportError as exc:
                raise ImportError(
                    f"encoding WAV files on the native backend needs torchaudio matching your torch ({exc}); "
                    "or give the manifest precomputed audio_codes"
                ) from exc
            self._model = HiggsAudioV2TokenizerModel.from_pretrained(self.name_or_path, revision=self.revision).to(
                self.device
            )
        return self._model

    @property
    def sampling_rate(self) -> int:
        return self.load().config.sample_rate

    def encode(self, wav: Path) -> np.ndarray:
        import librosa
        import torch

        model = self.load()
        waveform, _ = librosa.load(str(wav), sr=self.sampling_rate)
        with torch.no_grad():
            codes = model.encode(torch.as_tensor(waveform)[None, None].to(self.device)).audio_codes
        return np.asarray(codes[0].cpu().numpy(), dtype=np.int64)

    def decode(self, codes: np.ndarray) -> np.ndarray:
        import torch

        with torch.no_grad():
            audio = self.load().decode(torch.as_tensor(codes)[None].to(self.device)).audio_values
        return audio[0, 0].cpu().numpy()


class CodeCache:
    """Encode each WAV of a manifest once and keep its codes under ``folder``."""

    def __init__(self, folder, encoder: AudioEncoder | None):
        self.folder = Path(folder)
        self.encoder = encoder

    def _entry(self, wav: Path) -> Path:
        stat = wav.stat()
        identity = self.encoder.identity if self.encoder is not None else "none"
        key = f"{wav}|{stat.st_size}|{stat.st_mtime_ns}|{identity}"
        return self.folder / (hashlib.sha256(key.encode()).hexdigest()[:32] + ".npy")

    def codes_for(self, source: AudioSource) -> np.ndarray:
        if source.inline_codes is not None:
            return np.asarray(source.inline_codes, dtype=np.int64)
        if source.codes_file is not None:
            return np.load(source.codes_file).astype(np.int64)
        entry = self._entry(source.wav)
        if entry.exists():
            return np.load(entry)
        if self.encoder is None:
            raise ValueError(f"{source.wav} needs encoding but no audio tokenizer was given (--audio_tokenizer)")
        codes = self.encoder.encode(source.wav)
        self.folder.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=self.folder, suffix=".tmp")
        try:
            with os.fdopen(handle, "wb") as output:
                np.save(output, codes)
            os.replace(temporary, entry)
        except BaseException:
            os.unlink(temporary)
            raise
        return codes


def load_codes(utterances: list, cache: CodeCache, num_codebooks: int, codebook_size: int, manifest: Path) -> list:
    """``[(target codes, reference codes or None), ...]`` for every utterance, encoding what needs it.

    Raises:
        ManifestError: an encoded clip has the wrong shape or range, or encoding failed; the line is named.
    """
    loaded = []
    for utterance in utterances:
        pair = []
        for source in (utterance.audio, utterance.ref_audio):
            if source is None:
                pair.append(None)
                continue
            try:
                codes = cache.codes_for(source)
            except Exception as exc:
                raise ManifestError(
                    manifest, [(utterance.line, f"could not encode {source.describe()}: {exc}")]
                ) from exc
            problem = check_codes(codes, num_codebooks, codebook_size)
            if problem:
                raise ManifestError(manifest, [(utterance.line, f"{source.describe()}: {problem}")])
            pair.append(codes)
        loaded.append(tuple(pair))
    return loaded
