"""WAV files in and out of the audio tokenizers, the same for both backends.

A clip is read with soundfile whatever its sample rate, channel count or sample format (16/24/32-bit
PCM, float), averaged to mono, and resampled to the tokenizer's rate with torchaudio (which both
tokenizers import anyway). The generated sample is written as 32-bit float at the tokenizer's rate.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from .arguments import RecipeError

__all__ = ["MissingPackageError", "read_mono", "require_packages", "torchaudio_install_command", "write_wav"]


class MissingPackageError(RecipeError, ImportError):
    """A package the audio path imports is not installed; the message names it and the command."""


def torchaudio_install_command() -> str:
    """The pip command for the torchaudio that matches the installed torch (same major.minor)."""
    import torch

    major_minor = ".".join(torch.__version__.split("+")[0].split(".")[:2])
    return f'pip install "torchaudio=={major_minor}.*"'


def require_packages(what: str, modules: dict[str, str]) -> None:
    """Raise one line naming the first missing module of ``modules`` (module -> pip command).

    Only whether each module can be found is checked: nothing is imported, so a run whose clips are
    all cached pays nothing for it.

    Raises:
        MissingPackageError: ``<what> needs <module>, which is not installed: <command>``.
    """
    for module, command in modules.items():
        try:
            found = importlib.util.find_spec(module) is not None
        except ModuleNotFoundError:  # a missing parent package
            found = False
        if not found:
            raise MissingPackageError(f"{what} needs {module.split('.')[0]}, which is not installed: {command}")


def read_mono(path: Path, sampling_rate: int) -> np.ndarray:
    """The clip at ``path`` as float32 mono samples at ``sampling_rate``.

    Raises:
        ValueError: the file holds no samples.
    """
    import soundfile
    import torch
    import torchaudio

    samples, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    if samples.shape[0] == 0:
        raise ValueError(f"{path} holds no samples")
    mono = torch.from_numpy(samples.mean(axis=1))
    if rate != sampling_rate:
        mono = torchaudio.functional.resample(mono, rate, sampling_rate)
    return mono.numpy().astype(np.float32, copy=False)


def write_wav(path: Path, waveform: np.ndarray, sampling_rate: int) -> Path:
    import soundfile

    soundfile.write(str(path), np.asarray(waveform, dtype=np.float32).reshape(-1), sampling_rate, subtype="FLOAT")
    return path
