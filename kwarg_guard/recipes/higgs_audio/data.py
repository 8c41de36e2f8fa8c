"""From manifests to the datasets a run trains and evaluates on, the same for both backends.

* Utterances whose target audio is longer than ``--max_audio_seconds`` are skipped, and said so
  (their WAVs are measured, not encoded).
* WAVs are encoded once into the code cache; under torchrun only the main process encodes, the
  others wait and read the cache (``TrainingArguments.main_process_first``).
* Evaluation uses ``--eval_manifest``, or a held-out ``--eval_fraction`` of the training
  manifest, chosen by the run's seed.
* The post-training sample takes its scene, speaker and reference clip from the first training
  utterance unless told otherwise, so a voice-cloning fine-tune is sampled the way it was trained.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .arguments import RecipeError
from .codes import CodeCache, load_codes
from .manifest import AudioSource, ManifestError, Utterance, read_manifest
from .prompts import Prompt, build_prompt
from .release import FRAME_RATE

__all__ = ["RunData", "UtteranceDataset", "audio_frames", "check_data_arguments", "load_run_data"]

LOGGER = logging.getLogger("kwarg_guard.recipes.higgs_audio")


@dataclass
class RunData:
    train: Any
    eval: Any
    first: Utterance
    first_codes: tuple[np.ndarray, np.ndarray | None]
    skipped: list[tuple[int, float]]  # (manifest line, seconds) of utterances left out for length


class UtteranceDataset(torch.utils.data.Dataset):
    """Utterances with their codes; each port's dataset builds its samples from them.

    A port's dataset defines ``__getitem__`` (one sample, built fresh on every access) and
    ``positions`` (how many positions the model processes for a prompt and its code segments,
    for ``--group_by_length``). A new dataset format is a new manifest reader, not a new dataset.
    """

    def __init__(self, utterances: list, codes: list, tokenizer: Any, config: Any = None):
        if len(utterances) != len(codes):
            raise ValueError("one (target, reference) codes pair per utterance is needed")
        self.utterances, self.codes, self.tokenizer, self.config = utterances, codes, tokenizer, config

    def __len__(self) -> int:
        return len(self.utterances)

    def prompt_and_codes(self, index: int) -> tuple[Prompt, list[np.ndarray]]:
        """The utterance's prompt and its code segments in placeholder order (reference first)."""
        utterance = self.utterances[index]
        target, reference = self.codes[index]
        prompt = build_prompt(self.tokenizer, utterance.text, utterance.scene, utterance.speaker, utterance.ref_text)
        return prompt, ([reference, target] if reference is not None else [target])

    def positions(self, prompt: Prompt, segments: list[np.ndarray]) -> int:
        raise NotImplementedError

    @property
    def lengths(self) -> list[int]:
        """Positions the model processes per sample (for ``--group_by_length``)."""
        return [self.positions(*self.prompt_and_codes(index)) for index in range(len(self))]


def audio_frames(source: AudioSource) -> int:
    """Frames of a segment without encoding it: from its codes, or from the WAV's duration."""
    if source.inline_codes is not None:
        return len(source.inline_codes[0])
    if source.codes_file is not None:
        return int(np.load(source.codes_file, mmap_mode="r").shape[1])
    import soundfile

    return int(soundfile.info(str(source.wav)).duration * FRAME_RATE)


def check_data_arguments(data_args: Any, recipe_args: Any) -> None:
    """The data options' mistakes, found before any model or tokenizer is loaded.

    Each manifest is read and checked in full here, except for the model's code sizes: its
    mistakes are found before the hub is contacted (which, offline, takes half a minute to fail).

    Raises:
        RecipeError: no training manifest outside the demo, or a manifest that is missing, a
            folder, or has problems (every line named).
    """
    if data_args.train_manifest is None and not recipe_args.demo:
        raise RecipeError("--train_manifest is required (or --demo for the built-in synthetic data)")
    for option, value in (("--train_manifest", data_args.train_manifest), ("--eval_manifest", data_args.eval_manifest)):
        if value is not None:
            _check_file(Path(value), option)
            _read(Path(value), None, None)
    if data_args.eval_fraction and not 0 < data_args.eval_fraction < 1:
        raise RecipeError(f"--eval_fraction must be between 0 and 1, not {data_args.eval_fraction}")


def _check_file(path: Path, option: str) -> None:
    if not path.exists():
        raise RecipeError(f"{option} {path} not found")
    if not path.is_file():
        raise RecipeError(
            f"{option} {path} is a folder; give the .jsonl file (write one with: "
            "python -m kwarg_guard.recipes.higgs_audio.manifest FOLDER)"
        )


def load_run_data(
    backend: Any,
    data_args: Any,
    model_args: Any,
    training_args: Any,
    config: Any,
    tokenizer: Any,
    output_dir: Path,
) -> RunData:
    """Read, filter, encode (once) and split; the datasets come from ``backend``.

    Raises:
        RecipeError: a missing manifest, a manifest with problems (every line named), nothing left
            to train on after the length filter.
    """
    manifest = _train_manifest(data_args, output_dir)
    num_codebooks, codebook_size = backend.code_shape(config)
    utterances = _read(manifest, num_codebooks, codebook_size)
    skipped: list[tuple[int, float]] = []
    if data_args.max_audio_seconds is not None:
        utterances, skipped = _shorter_than(utterances, data_args.max_audio_seconds)
        if skipped:
            lines = ", ".join(str(line) for line, _ in skipped[:10]) + (" ..." if len(skipped) > 10 else "")
            print(
                f"skipped {len(skipped)} utterance(s) longer than {data_args.max_audio_seconds} s (manifest lines {lines})"
            )
        if not utterances:
            raise RecipeError(
                f"every utterance in {manifest} is longer than --max_audio_seconds {data_args.max_audio_seconds}"
            )
    # The manifest the evaluation utterances come from: the training one when split off it.
    eval_utterances: list[Utterance] = []
    eval_manifest = manifest
    if data_args.eval_manifest:
        eval_manifest = Path(data_args.eval_manifest)
        eval_utterances = _read(eval_manifest, num_codebooks, codebook_size)
    elif data_args.eval_fraction:
        utterances, eval_utterances = _split(utterances, data_args.eval_fraction, training_args.seed)
    with training_args.main_process_first(desc="encoding audio into the code cache"):
        codes = _codes(backend, model_args, data_args, utterances, manifest, num_codebooks, codebook_size)
        eval_codes = _codes(
            backend, model_args, data_args, eval_utterances, eval_manifest, num_codebooks, codebook_size
        )
    train = backend.dataset(utterances, codes, tokenizer, config)
    evaluation = backend.dataset(eval_utterances, eval_codes, tokenizer, config) if eval_utterances else None
    return RunData(train, evaluation, utterances[0], codes[0], skipped)


def _train_manifest(data_args: Any, output_dir: Path) -> Path:
    if data_args.train_manifest is None:
        from .tiny import write_demo_manifest

        return write_demo_manifest(output_dir / "demo_data")
    return Path(data_args.train_manifest)


def _read(path: Path, num_codebooks: int | None, codebook_size: int | None) -> list[Utterance]:
    try:
        return read_manifest(path, num_codebooks, codebook_size)
    except ManifestError as exc:
        raise RecipeError(exc.one_line()) from None


def _shorter_than(utterances: list[Utterance], seconds: float) -> tuple[list[Utterance], list[tuple[int, float]]]:
    limit = seconds * FRAME_RATE
    kept, skipped = [], []
    for utterance in utterances:
        frames = audio_frames(utterance.audio)
        if frames > limit:
            skipped.append((utterance.line, frames / FRAME_RATE))
        else:
            kept.append(utterance)
    return kept, skipped


def _split(utterances: list[Utterance], fraction: float, seed: int) -> tuple[list[Utterance], list[Utterance]]:
    held = max(1, round(len(utterances) * fraction))
    if held >= len(utterances):
        raise RecipeError(
            f"--eval_fraction {fraction} leaves no utterance to train on ({len(utterances)} in the manifest)"
        )
    order = list(range(len(utterances)))
    random.Random(seed).shuffle(order)
    chosen = set(order[:held])
    return [u for i, u in enumerate(utterances) if i not in chosen], [
        u for i, u in enumerate(utterances) if i in chosen
    ]


def _codes(
    backend: Any,
    model_args: Any,
    data_args: Any,
    utterances: list[Utterance],
    manifest: Path,
    num_codebooks: int,
    codebook_size: int,
) -> list[tuple[np.ndarray, np.ndarray | None]]:
    if not utterances:
        return []
    needs_encoder = any(u.audio.wav or (u.ref_audio and u.ref_audio.wav) for u in utterances)
    encoder = backend.audio_encoder(model_args) if needs_encoder else None
    cache = CodeCache(data_args.code_cache_dir or manifest.parent / ".higgs_codes", encoder)
    try:
        codes = load_codes(utterances, cache, num_codebooks, codebook_size, manifest)
    except ManifestError as exc:
        raise RecipeError(exc.one_line()) from None
    if cache.encoded:
        LOGGER.info(
            "encoded %d clip(s) of %s into %s (%d already there)", cache.encoded, manifest, cache.folder, cache.reused
        )
    return codes
