"""ChatML prompts the way the official serve engine builds them, and the training dataset.

A training sample is::

    system:    Generate audio following instruction.  [scene / speaker description]
    user:      reference transcript          (voice cloning only)
    assistant: <reference audio>             (voice cloning only; not trained)
    user:      the text to speak
    assistant: <target audio>                (trained: audio codes, and the audio-out tokens)

``start_index`` points at the last turn, so ``prepare_chatml_sample`` labels only the target; the
collator turns an unlabelled ``<|AUDIO_OUT|>`` into a segment with no audio labels, which keeps
the reference out of the loss.
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["system_prompt", "chatml_messages", "HiggsAudioDataset", "build_sample"]

SYSTEM_INSTRUCTION = "Generate audio following instruction."


def system_prompt(scene: str | None, speaker: str | None) -> str:
    lines = [line for line in (scene, f"SPEAKER0: {speaker}" if speaker else None) if line]
    if not lines:
        return SYSTEM_INSTRUCTION
    return SYSTEM_INSTRUCTION + "\n\n<|scene_desc_start|>\n" + "\n".join(lines) + "\n<|scene_desc_end|>"


def chatml_messages(text: str, scene=None, speaker=None, ref_text=None, with_target: bool = True):
    """``(messages, start_index)`` for one utterance (``with_target=False`` for generation prompts)."""
    from boson_multimodal.data_types import AudioContent, Message

    messages = [Message(role="system", content=system_prompt(scene, speaker))]
    if ref_text:
        messages += [Message(role="user", content=ref_text), Message(role="assistant", content=AudioContent(audio_url="reference"))]
    messages.append(Message(role="user", content=text))
    if with_target:
        messages.append(Message(role="assistant", content=AudioContent(audio_url="target")))
    return messages, len(messages) - 1


def build_sample(tokenizer, messages, start_index, code_segments: list, with_labels: bool = True):
    """A fresh ``ChatMLDatasetSample``; ``code_segments`` are (codebooks, frames) arrays, one per
    audio placeholder in order."""
    from boson_multimodal.data_types import ChatMLSample
    from boson_multimodal.dataset.chatml_dataset import ChatMLDatasetSample, prepare_chatml_sample

    input_tokens, label_tokens, audio_contents, _ = prepare_chatml_sample(
        ChatMLSample(messages=messages, start_index=start_index), tokenizer
    )
    if input_tokens is None:
        raise ValueError("prepare_chatml_sample could not format this sample (see the message it printed)")
    if len(audio_contents) != len(code_segments):
        raise ValueError(f"{len(audio_contents)} audio placeholder(s) but {len(code_segments)} code segment(s)")
    if code_segments:
        lengths = [segment.shape[1] for segment in code_segments]
        audio_ids_concat = torch.from_numpy(np.concatenate(code_segments, axis=1)).long()
        audio_ids_start = torch.tensor(np.cumsum([0] + lengths[:-1]), dtype=torch.long)
    else:
        audio_ids_concat = torch.zeros((0, 0), dtype=torch.long)
        audio_ids_start = torch.zeros(0, dtype=torch.long)
    return ChatMLDatasetSample(
        input_ids=torch.tensor(input_tokens, dtype=torch.long),
        label_ids=torch.tensor(label_tokens, dtype=torch.long) if with_labels else None,
        audio_ids_concat=audio_ids_concat,
        audio_ids_start=audio_ids_start,
        audio_waveforms_concat=torch.zeros(0),
        audio_waveforms_start=torch.zeros(0, dtype=torch.long),
        audio_sample_rate=torch.zeros(0),
        audio_speaker_indices=torch.zeros(0, dtype=torch.long),
    )


class HiggsAudioDataset(torch.utils.data.Dataset):
    """Utterances with their codes, turned into samples *fresh on every access*.

    The official collator writes -100 into ``label_ids`` at ``<|AUDIO_OUT|>`` in place; a
    dataset that handed out the same sample objects again would lose every audio label from the
    second epoch on (the audio loss turns NaN and a stock Trainer log shows 0.0).
    """

    def __init__(self, utterances: list, codes: list, tokenizer):
        if len(utterances) != len(codes):
            raise ValueError("one (target, reference) codes pair per utterance is needed")
        self.utterances = utterances
        self.codes = codes
        self.tokenizer = tokenizer

    def __len__(self):
        return len(self.utterances)

    def __getitem__(self, index):
        utterance = self.utterances[index]
        target, reference = self.codes[index]
        messages, start_index = chatml_messages(utterance.text, utterance.scene, utterance.speaker, utterance.ref_text)
        segments = [reference, target] if reference is not None else [target]
        return build_sample(self.tokenizer, messages, start_index, segments)
