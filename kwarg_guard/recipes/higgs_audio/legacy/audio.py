"""The legacy port's audio tokenizer: boson_multimodal's ``HiggsAudioTokenizer``, WAV to codes and back."""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["HiggsAudioTokenizerEncoder"]


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
                loader: Any = importlib.import_module("boson_multimodal.audio_processing.higgs_audio_tokenizer")
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
