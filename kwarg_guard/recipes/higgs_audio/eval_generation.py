"""``--eval_generate N``: at every evaluation, and once before the first step (the base model), generate
N held-out utterances, decode them to audio and score them (``quality.py``); the Trainer logs
``eval_wer``, ``eval_cer`` and ``eval_speaker_similarity`` beside the evaluation loss.

The voice a clip is compared with is the utterance's reference clip when it clones one (as
seed-tts-eval compares with the prompt), else its own recording: the WAV when the manifest names one,
else its codes decoded. Every rank generates the same clips with the same seed (a sharded model's
ranks must run the same forwards); the global random state is restored afterwards, so scoring does
not change the training that follows.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .arguments import ASR_MODEL, SPEAKER_MODEL, RecipeError
from .generation import GenerationRequest, sampling_options
from .quality import Clip, QualityScorer, read_clip

__all__ = ["EvalGeneration", "HeldOut", "build_eval_generation", "check_eval_generate"]

LOGGER = logging.getLogger("kwarg_guard.recipes.higgs_audio")

ToWaveform = Callable[[np.ndarray], Clip]


@dataclass
class HeldOut:
    request: GenerationRequest
    voice: Clip  # what the generated clip should sound like


class EvalGeneration:
    """Generate, decode and score the held-out utterances; called by the Trainer at each evaluation."""

    def __init__(self, backend: Any, tokenizer: Any, held_out: list, to_waveform: ToWaveform, scorer: Any):
        self.backend, self.tokenizer, self.held_out = backend, tokenizer, held_out
        self.to_waveform, self.scorer = to_waveform, scorer
        # The last evaluation's (text, transcript, clip or None), for TensorBoard.
        self.samples: list[tuple[str, str, Clip | None]] = []

    def __call__(self, model: Any) -> dict[str, float]:
        import torch

        devices = [torch.cuda.current_device()] if torch.cuda.is_available() else []
        with torch.random.fork_rng(devices=devices):
            return self._score(model)

    def _score(self, model: Any) -> dict[str, float]:
        generated: list[Clip | None] = []
        for item in self.held_out:
            codes = self.backend.generate(model, self.tokenizer, item.request).codes
            generated.append(None if codes is None else self.to_waveform(codes))
        texts = [item.request.text for item in self.held_out]
        metrics, transcripts = self.scorer.score(texts, generated, [item.voice for item in self.held_out])
        self.samples = list(zip(texts, transcripts, generated, strict=True))
        for text, heard in zip(texts, transcripts, strict=True):
            LOGGER.info("eval_generate: asked %r, heard %r", text, heard)
        return metrics


def check_eval_generate(data_args: Any, recipe_args: Any, training_args: Any) -> None:
    """``--eval_generate``'s mistakes, before anything is loaded.

    Raises:
        RecipeError: a negative count, no held-out utterances, or no evaluation to run it at.
    """
    if recipe_args.eval_generate < 0:
        raise RecipeError(f"--eval_generate must be 0 (off) or a number of utterances, not {recipe_args.eval_generate}")
    if not recipe_args.eval_generate:
        return
    if not (data_args.eval_manifest or data_args.eval_fraction):
        raise RecipeError("--eval_generate scores held-out utterances: give --eval_manifest or --eval_fraction")
    if training_args.eval_strategy == "no":
        raise RecipeError(
            "--eval_generate runs at each evaluation and --eval_strategy is no: add --eval_strategy steps "
            "--eval_steps K (or epoch)"
        )


def build_eval_generation(
    backend: Any,
    model_args: Any,
    recipe_args: Any,
    training_args: Any,
    data: Any,
    tokenizer: Any,
    output_dir: Path,
    to_waveform: ToWaveform | None = None,
) -> EvalGeneration | None:
    """The evaluation hook, or ``None`` without ``--eval_generate`` (or, in the demo, when this
    environment cannot decode audio: it says why in one line). Sets ``eval_on_start``.

    ``to_waveform`` decodes codes to a clip; by default the run's audio tokenizer does.

    Raises:
        RecipeError: a scoring model that cannot be loaded; MissingPackageError: a missing package.
    """
    if not recipe_args.eval_generate or data.eval is None:
        return None
    if to_waveform is None:
        to_waveform = _waveform_decoder(backend, model_args, recipe_args.demo, output_dir / "demo_data")
    if to_waveform is None:
        return None
    asr_model, speaker_model = recipe_args.asr_model, recipe_args.speaker_model
    if recipe_args.demo:
        from .tiny_quality import write_tiny_asr, write_tiny_speaker_model

        if asr_model == ASR_MODEL:
            asr_model = str(write_tiny_asr(output_dir / "demo_data" / "tiny_asr"))
        if speaker_model == SPEAKER_MODEL:
            speaker_model = str(write_tiny_speaker_model(output_dir / "demo_data" / "tiny_speaker"))
    scorer = QualityScorer(asr_model, speaker_model, training_args.device)
    count = min(recipe_args.eval_generate, len(data.eval))
    held_out = [_held_out(data.eval, index, recipe_args, training_args.seed, to_waveform) for index in range(count)]
    # The base model's scores, logged at step 0, are what the fine-tune's are compared with.
    training_args.eval_on_start = True
    return EvalGeneration(backend, tokenizer, held_out, to_waveform, scorer)


def _held_out(dataset: Any, index: int, recipe_args: Any, seed: int, to_waveform: ToWaveform) -> HeldOut:
    utterance = dataset.utterances[index]
    target_codes, reference_codes = dataset.codes[index]
    cloning = utterance.ref_audio is not None
    source, codes = (utterance.ref_audio, reference_codes) if cloning else (utterance.audio, target_codes)
    request = GenerationRequest(
        text=utterance.text,
        scene=utterance.scene,
        speaker=utterance.speaker,
        ref_text=utterance.ref_text,
        ref_codes=reference_codes,
        **sampling_options(recipe_args, seed),
    )
    return HeldOut(request, read_clip(source.wav) if source.wav is not None else to_waveform(codes))


def _waveform_decoder(backend: Any, model_args: Any, demo: bool, demo_folder: Path) -> ToWaveform | None:
    """The run's audio tokenizer's ``decode`` as ``codes -> (samples, rate)``.

    The demo decodes with a tiny random tokenizer of its backend unless given one (``--demo_audio``
    gives it one); when this environment cannot run an audio tokenizer, the demo says why and scores
    nothing.
    """
    default = next(f.default for f in dataclasses.fields(model_args) if f.name == "audio_tokenizer")
    tiny = demo and model_args.audio_tokenizer == default
    if tiny:
        model_args = dataclasses.replace(model_args, audio_tokenizer=str(demo_folder / "audio_tokenizer"))
    encoder = backend.audio_encoder(model_args)
    try:
        encoder.check_packages()
        if tiny and not (demo_folder / "audio_tokenizer" / "config.json").exists():
            backend.write_tiny_audio_tokenizer(demo_folder / "audio_tokenizer")
        encoder.load()
    except ImportError as exc:
        if not demo:
            raise
        print(f"--eval_generate: not scoring: the audio tokenizer cannot decode here ({str(exc).splitlines()[0]})")
        return None

    def to_waveform(codes: np.ndarray) -> Clip:
        return np.asarray(encoder.decode(codes), dtype=np.float32).reshape(-1), int(encoder.sampling_rate)

    return to_waveform
