"""The legacy port's audio tokenizer: boson_multimodal's ``HiggsAudioTokenizer``, WAV to codes and back."""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import Any

import numpy as np

from ..wav import read_mono, require_packages, torchaudio_install_command

__all__ = ["HiggsAudioTokenizerEncoder"]


class HiggsAudioTokenizerEncoder:
    """The legacy Higgs audio tokenizer (boson_multimodal), loaded on first use, at pinned revisions.

    It needs packages the training stack does not (``LEGACY_TOKENIZER_PACKAGES``; boson and the
    descript packages go in with ``--no-deps``) and its weights from the Hugging Face Hub or a local
    copy. boson's loader takes no revision, and loads ``bosonai/hubert_base`` itself: the tokenizer
    repository is downloaded at ``revision`` first, and the HuBERT load is given ``hubert_revision``,
    or, when the tokenizer folder holds a ``hubert_base/`` folder, loads that instead of the hub's.
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

    def check_packages(self) -> None:
        """Raises ``MissingPackageError`` naming a missing package and its pip command."""
        require_packages("the legacy audio tokenizer", legacy_tokenizer_packages())

    def load(self):
        """Load the tokenizer now (it loads on first use otherwise); returns it."""
        if self._tokenizer is None:
            self.check_packages()
            loader: Any = importlib.import_module("boson_multimodal.audio_processing.higgs_audio_tokenizer")
            path = self.name_or_path
            if not os.path.exists(path):
                import huggingface_hub

                path = huggingface_hub.snapshot_download(path, revision=self.revision)
            local_hubert = Path(path) / HUBERT_FOLDER
            original = loader.AutoModel
            loader.AutoModel = _PinnedAutoModel(
                original, self.hubert_revision, str(local_hubert) if local_hubert.is_dir() else None
            )
            try:
                self._tokenizer = loader.load_higgs_audio_tokenizer(path, device=self.device)
            finally:
                loader.AutoModel = original
        return self._tokenizer

    @property
    def sampling_rate(self) -> int:
        return self.load().sampling_rate

    @property
    def hop_length(self) -> int:
        """Samples per frame of codes."""
        return int(self.load().hop_length)

    def encode(self, wav: Path) -> np.ndarray:
        tokenizer = self.load()
        codes = tokenizer.encode(read_mono(wav, tokenizer.sampling_rate), tokenizer.sampling_rate)
        return np.asarray(codes.cpu().numpy(), dtype=np.int64)

    def decode(self, codes: np.ndarray) -> np.ndarray:
        import torch

        return self.load().decode(torch.as_tensor(codes, dtype=torch.long).unsqueeze(0))[0, 0]


# Where a tokenizer folder keeps the semantic model boson's loader would take from the hub.
HUBERT_FOLDER = "hubert_base"

# What boson's tokenizer imports, beyond the training stack, and the pins that install together
# (the pyproject extra higgs-audio, and envs/stack-4.46-audio.txt). The three --no-deps packages
# declare requirements it does not use (boson: boto3, ruff; descript-audiotools: tensorboard,
# protobuf and more).
NO_DEPS_COMMAND = "pip install --no-deps boson-multimodal==0.1.1 descript-audio-codec==1.0.0 descript-audiotools==0.7.2"


def legacy_tokenizer_packages() -> dict[str, str]:
    """Module -> the pip command that installs it."""
    extra = 'pip install "kwarg_guard[higgs-audio]"  (from the clone: pip install "/path/to/kwarg_guard[higgs-audio]")'
    return {
        "torchaudio": torchaudio_install_command(),
        "boson_multimodal": NO_DEPS_COMMAND,
        "dac": NO_DEPS_COMMAND,
        "audiotools": NO_DEPS_COMMAND,
        **dict.fromkeys(LEGACY_TOKENIZER_MODULES, extra),
    }


LEGACY_TOKENIZER_MODULES = ("omegaconf", "einops", "vector_quantize_pytorch", "librosa", "soundfile")


class _PinnedAutoModel:
    """``transformers.AutoModel`` with a revision, or a local folder, for the HuBERT model the legacy
    tokenizer loads by its hub name."""

    def __init__(self, auto_model, revision: str | None, local_folder: str | None = None):
        self.auto_model, self.revision, self.local_folder = auto_model, revision, local_folder

    def from_pretrained(self, name, *args, **kwargs):
        if name == "bosonai/hubert_base":
            if self.local_folder:
                name = self.local_folder
            elif self.revision:
                kwargs.setdefault("revision", self.revision)
        return self.auto_model.from_pretrained(name, *args, **kwargs)
