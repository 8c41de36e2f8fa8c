"""How good generated speech is, scored the way published TTS figures are (seed-tts-eval's method).

* Intelligibility: an ASR model (``--asr_model``, default ``openai/whisper-large-v3``, what
  seed-tts-eval uses for English) transcribes each clip through transformers'
  ``pipeline("automatic-speech-recognition")``; ``jiwer`` scores the transcript against the text the
  clip was asked to say, as word (WER) and character (CER) error rates, averaged over the clips.
* Voice: the cosine between x-vector speaker embeddings (``--speaker_model``, default
  ``microsoft/wavlm-base-plus-sv``, a WavLM speaker-verification model) of the generated clip and a
  recording of the voice it should have.

Text normalisation, applied to both sides before scoring (``normalize_text``): lower-case, delete
punctuation except apostrophes, collapse whitespace. This is seed-tts-eval's own (its ``run_wer.py``
deletes ``string.punctuation`` and Chinese punctuation except ``'`` and lower-cases English), so the
figures compare with the ones Higgs Audio reports. Whisper's ``EnglishTextNormalizer`` would also
rewrite numbers and British spellings: more forgiving, English only, and not what those figures used.

Clips are ``(samples, sampling_rate)`` pairs; each model gets them at its own rate, resampled here
with an FFT (no torchaudio needed to score).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from typing import Any

import numpy as np

from .arguments import RecipeError
from .wav import require_packages

__all__ = [
    "JIWER_INSTALL",
    "QualityScorer",
    "SpeakerEncoder",
    "SpeechRecognizer",
    "error_rates",
    "normalize_text",
    "read_clip",
    "resample",
]

JIWER_INSTALL = "pip install jiwer==4.0.0"

Clip = tuple[np.ndarray, int]


def normalize_text(text: str) -> str:
    """seed-tts-eval's normalisation: lower-case, no punctuation but apostrophes, single spaces."""
    kept = "".join(
        character
        for character in text.lower()
        if character == "'" or not unicodedata.category(character).startswith("P")
    )
    return re.sub(r"\s+", " ", kept).strip()


def error_rates(references: Sequence[str], hypotheses: Sequence[str]) -> dict[str, float]:
    """``{"wer", "cer"}``: the mean over clips of each clip's rate, after ``normalize_text``.

    A reference with no words once normalised (punctuation only) cannot be scored and is left out.

    Raises:
        MissingPackageError: jiwer is not installed.
    """
    require_packages("scoring transcripts", {"jiwer": JIWER_INSTALL})
    import jiwer

    pairs = [(normalize_text(r), normalize_text(h)) for r, h in zip(references, hypotheses, strict=True)]
    pairs = [(reference, hypothesis) for reference, hypothesis in pairs if reference]
    if not pairs:
        return {}
    return {
        "wer": float(np.mean([jiwer.wer(reference, hypothesis) for reference, hypothesis in pairs])),
        "cer": float(np.mean([jiwer.cer(reference, hypothesis) for reference, hypothesis in pairs])),
    }


def resample(samples: np.ndarray, rate: int, target: int) -> np.ndarray:
    """``samples`` (mono) at ``target`` Hz, by zero-padding or cutting their spectrum (band-limited,
    as ``scipy.signal.resample``; clips here are seconds long, so one FFT is cheap)."""
    samples = np.asarray(samples, dtype=np.float32).reshape(-1)
    if rate == target or samples.size == 0:
        return samples
    length = max(1, round(samples.size * target / rate))
    spectrum = np.fft.rfft(samples)
    resized = np.zeros(length // 2 + 1, dtype=spectrum.dtype)
    kept = min(resized.size, spectrum.size)
    resized[:kept] = spectrum[:kept]
    return (np.fft.irfft(resized, length) * (length / samples.size)).astype(np.float32)


def read_clip(path: Any) -> Clip:
    """A WAV (any rate, channels or sample format) as float32 mono samples at its own rate."""
    import soundfile

    samples, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    return samples.mean(axis=1), int(rate)


def _load(option: str, name: str, load: Any) -> Any:
    try:
        return load(name)
    except (OSError, ValueError) as exc:
        raise RecipeError(f"{option} {name}: cannot load it ({str(exc).splitlines()[0]})") from None


class SpeechRecognizer:
    """An ASR model (hub id or folder) behind transformers' ASR pipeline."""

    def __init__(self, name: str, device: Any = "cpu"):
        from transformers import pipeline

        self.name = name
        self.pipeline = _load(
            "--asr_model", name, lambda n: pipeline("automatic-speech-recognition", model=n, device=device)
        )
        self.sampling_rate = int(self.pipeline.feature_extractor.sampling_rate)

    def transcribe(self, clip: Clip) -> str:
        samples, rate = clip
        if np.asarray(samples).size == 0:
            return ""
        heard = self.pipeline({"raw": resample(samples, rate, self.sampling_rate), "sampling_rate": self.sampling_rate})
        return str(heard["text"]).strip()


class SpeakerEncoder:
    """A speaker-verification model with an x-vector head (``WavLMForXVector`` and the like)."""

    def __init__(self, name: str, device: Any = "cpu"):
        from transformers import AutoFeatureExtractor, AutoModelForAudioXVector

        self.name, self.device = name, device
        self.features = _load("--speaker_model", name, AutoFeatureExtractor.from_pretrained)
        model = _load("--speaker_model", name, AutoModelForAudioXVector.from_pretrained)
        self.model = model.to(device).eval()
        self.sampling_rate = int(self.features.sampling_rate)
        self.shortest = self._shortest_input()

    def _shortest_input(self) -> int:
        """Samples the model needs: its x-vector layers (TDNN) read a window of feature frames, and a
        shorter clip fails inside the model rather than scoring."""
        import torch

        config = self.model.config
        # Two frames at least after the window: the pooling takes their standard deviation.
        window = 2 + sum((k - 1) * d for k, d in zip(config.tdnn_kernel, config.tdnn_dilation, strict=False))
        samples = int(np.prod(config.conv_stride))
        while int(self.model._get_feat_extract_output_lengths(torch.tensor(samples))) < window:
            samples += int(np.prod(config.conv_stride))
        return samples

    def embed(self, clip: Clip) -> Any:
        """The clip's unit-length speaker embedding."""
        import torch

        samples, rate = clip
        samples = resample(samples, rate, self.sampling_rate)
        # Silence after a clip too short for the model (a fraction of a second) rather than no score.
        samples = np.pad(samples, (0, max(0, self.shortest - samples.size)))
        inputs = self.features(samples, sampling_rate=self.sampling_rate, return_tensors="pt")
        with torch.no_grad():
            embedding = self.model(**{k: v.to(self.device) for k, v in inputs.items()}).embeddings[0]
        return torch.nn.functional.normalize(embedding.float(), dim=-1).cpu()

    def similarity(self, first: Clip, second: Clip) -> float:
        """Cosine of the two clips' embeddings: 1 for the same voice, lower the less alike."""
        return float(self.embed(first) @ self.embed(second))


class QualityScorer:
    """WER, CER and speaker similarity of generated clips."""

    def __init__(self, asr_model: str, speaker_model: str, device: Any = "cpu"):
        require_packages("--eval_generate", {"jiwer": JIWER_INSTALL})
        self.recognizer = SpeechRecognizer(asr_model, device)
        self.speaker = SpeakerEncoder(speaker_model, device)

    def score(
        self, texts: Sequence[str], generated: Sequence[Clip | None], voices: Sequence[Clip]
    ) -> tuple[dict[str, float], list[str]]:
        """``({"wer", "cer", "speaker_similarity"}, transcripts)``.

        ``generated[i]`` should say ``texts[i]`` in the voice of ``voices[i]``; a clip that is
        ``None`` (nothing generated) is heard as no words and scores similarity 0.
        """
        transcripts = [self.recognizer.transcribe(clip) if clip is not None else "" for clip in generated]
        similarities = [
            self.speaker.similarity(clip, voice) if clip is not None and clip[0].size else 0.0
            for clip, voice in zip(generated, voices, strict=True)
        ]
        metrics = error_rates(texts, transcripts)
        metrics["speaker_similarity"] = float(np.mean(similarities)) if similarities else 0.0
        return {name: round(value, 6) for name, value in metrics.items()}, transcripts
