"""The native port's audio tokenizer: transformers' ``HiggsAudioV2TokenizerModel``, WAV to codes and back."""

from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["NativeAudioTokenizerEncoder"]


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
            model = HiggsAudioV2TokenizerModel.from_pretrained(self.name_or_path, revision=self.revision or "main")
            # PreTrainedModel.to is typed through functools.wraps(nn.Module.to), which mypy reads as unbound.
            self._model = model.to(self.device)  # type: ignore[arg-type]
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
