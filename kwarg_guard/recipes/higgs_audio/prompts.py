"""The ChatML prompt of one utterance, as token ids, the same for both model ports.

The layout is the one the official serve engine's examples build (and boson_multimodal's
``prepare_chatml_sample`` tokenizes; a test checks the ids are identical)::

    system:    Generate audio following instruction.  [scene / speaker description]
    user:      reference transcript          (voice cloning only)
    assistant: <reference audio>             (voice cloning only; not trained)
    user:      the text to speak
    assistant: <target audio>                (trained)

Each audio segment is one ``<|AUDIO_OUT|>`` placeholder between ``<|audio_out_bos|>`` and
``<|audio_eos|>``; each backend lays out the codes behind it its own way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .loss import IGNORE_INDEX

__all__ = ["AUDIO_OUT", "GENERATION_SUFFIX", "SYSTEM_INSTRUCTION", "Prompt", "build_prompt", "system_prompt"]

SYSTEM_INSTRUCTION = "Generate audio following instruction."
AUDIO_OUT = "<|AUDIO_OUT|>"
# What a prompt for generation ends with: the model continues with the audio.
GENERATION_SUFFIX = "<|start_header_id|>assistant<|end_header_id|>\n\n<|audio_out_bos|>"


@dataclass(frozen=True)
class Prompt:
    """Token ids of one prompt, and which of them are text targets.

    Attributes:
        input_ids: the ids, with one ``<|AUDIO_OUT|>`` per audio segment.
        label_ids: the text targets (the target turn), -100 elsewhere; ``None`` for generation.
        trained_segments: for each audio segment in order, whether it is a training target (the
            target audio is, a voice-cloning reference is not).
    """

    input_ids: list[int]
    label_ids: list[int] | None
    trained_segments: tuple[bool, ...]


def system_prompt(scene: str | None, speaker: str | None) -> str:
    lines = [line for line in (scene, f"SPEAKER0: {speaker}" if speaker else None) if line]
    if not lines:
        return SYSTEM_INSTRUCTION
    return SYSTEM_INSTRUCTION + "\n\n<|scene_desc_start|>\n" + "\n".join(lines) + "\n<|scene_desc_end|>"


def build_prompt(
    tokenizer: Any,
    text: str,
    scene: str | None = None,
    speaker: str | None = None,
    ref_text: str | None = None,
    *,
    for_generation: bool = False,
) -> Prompt:
    """The prompt for one utterance; ``for_generation`` ends it where the model starts the audio."""
    turns: list[tuple[str, str | None, bool]] = [("system", system_prompt(scene, speaker), False)]
    if ref_text:
        turns += [("user", ref_text, False), ("assistant", None, False)]
    turns.append(("user", text, False))
    if not for_generation:
        turns.append(("assistant", None, True))
    input_ids: list[int] = []
    label_ids: list[int] = []
    segments = []
    for index, (role, content, trained) in enumerate(turns):
        prefix = ("<|begin_of_text|>" if index == 0 else "") + f"<|start_header_id|>{role}<|end_header_id|>\n\n"
        body = content if content is not None else f"<|audio_out_bos|>{AUDIO_OUT}<|audio_eos|>"
        if content is None:
            segments.append(trained)
        for piece, is_target in ((prefix, False), (body, trained), ("<|eot_id|>", trained)):
            ids = tokenizer.encode(piece, add_special_tokens=False)
            input_ids += ids
            label_ids += ids if is_target else [IGNORE_INDEX] * len(ids)
    if for_generation:
        input_ids += tokenizer.encode(GENERATION_SUFFIX, add_special_tokens=False)
        return Prompt(input_ids, None, tuple(segments))
    return Prompt(input_ids, label_ids, tuple(segments))
