"""The native port's audio tokenizer: transformers' ``HiggsAudioV2TokenizerModel``, WAV to codes and back."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..wav import read_mono, require_packages, torchaudio_install_command

__all__ = ["NativeAudioTokenizerEncoder"]


class NativeAudioTokenizerEncoder:
    """The transformers-native Higgs audio tokenizer (``HiggsAudioV2TokenizerModel``, transformers 5),
    from the hub or a folder written by ``save_pretrained``, on ``device``.

    It imports torchaudio, which must match the installed torch (``pip install "torchaudio==X.Y.*"``
    for torch X.Y); envs/stack-5-audio.txt pins a pair that installs.
    """

    def __init__(self, name_or_path: str, device: str = "cpu", revision: str | None = None):
        self.name_or_path, self.device, self.revision = name_or_path, device, revision
        self.identity = f"higgs-audio-v2-tokenizer:{name_or_path}@{revision or 'main'}"
        self._model = None

    def check_packages(self) -> None:
        """Raises ``MissingPackageError`` naming a missing package and its pip command."""
        require_packages(
            "the native audio tokenizer",
            {"torchaudio": torchaudio_install_command(), "soundfile": "pip install soundfile"},
        )

    def load(self):
        if self._model is None:
            self.check_packages()
            from transformers import HiggsAudioV2TokenizerModel

            model = HiggsAudioV2TokenizerModel.from_pretrained(self.name_or_path, revision=self.revision or "main")
            # PreTrainedModel.to is typed through functools.wraps(nn.Module.to), which mypy reads as unbound.
            self._model = model.to(self.device).eval()  # type: ignore[arg-type]
        return self._model

    @property
    def sampling_rate(self) -> int:
        return self.load().config.sample_rate

    @property
    def hop_length(self) -> int:
        """Samples per frame of codes."""
        return self.load().config.hop_length

    def encode(self, wav: Path) -> np.ndarray:
        import torch

        model = self.load()
        waveform = torch.from_numpy(read_mono(wav, self.sampling_rate))
        with torch.no_grad():
            codes = model.encode(waveform[None, None].to(self.device)).audio_codes
        return np.asarray(codes[0].cpu().numpy(), dtype=np.int64)

    def decode(self, codes: np.ndarray) -> np.ndarray:
        import torch

        with torch.no_grad():
            audio = self.load().decode(torch.as_tensor(codes, dtype=torch.long)[None].to(self.device)).audio_values
        return audio[0, 0].float().cpu().numpy()
