"""Audio to codes, once: WAVs are encoded by an audio tokenizer and cached on disk as .npy files.

The cache key is the file's resolved path, size and modification time plus the encoder's
identity, so editing a clip or changing the tokenizer re-encodes it. Files are written to a
temporary name and renamed into place, so an interrupted run never leaves a half-written entry.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import Protocol

import numpy as np

from .manifest import AudioSource, ManifestError, check_codes
from .wav import MissingPackageError

__all__ = ["AudioEncoder", "CodeCache", "load_codes"]


class AudioEncoder(Protocol):
    """Anything that turns a WAV file into a (codebooks, frames) integer array (each port's audio
    tokenizer: ``legacy/audio.py``, ``native/audio.py``)."""

    identity: str

    def encode(self, wav: Path) -> np.ndarray: ...


class CodeCache:
    """Encode each WAV of a manifest once and keep its codes under ``folder``."""

    def __init__(self, folder, encoder: AudioEncoder | None):
        self.folder = Path(folder)
        self.encoder = encoder
        self.encoded = 0  # clips this cache encoded
        self.reused = 0  # clips it found already encoded

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
        if source.wav is None:
            raise ValueError("an audio source names no WAV, codes file or inline codes")
        entry = self._entry(source.wav)
        if entry.exists():
            self.reused += 1
            return np.load(entry)
        if self.encoder is None:
            raise ValueError(f"{source.wav} needs encoding but no audio tokenizer was given (--audio_tokenizer)")
        codes = self.encoder.encode(source.wav)
        self.encoded += 1
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
        MissingPackageError: the audio tokenizer's packages are not installed.
    """
    loaded = []
    for utterance in utterances:
        pair: list[np.ndarray | None] = []
        for source in (utterance.audio, utterance.ref_audio):
            if source is None:
                pair.append(None)
                continue
            try:
                codes = cache.codes_for(source)
            except MissingPackageError:
                raise  # the same for every clip: said once, with the command that installs it
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
