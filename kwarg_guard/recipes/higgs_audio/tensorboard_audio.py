"""``--report_to tensorboard`` with ``--eval_generate``: each evaluation's generated clips, to listen
to beside the curves.

The Trainer's own ``TensorBoardCallback`` already writes every logged number (``eval/wer``,
``eval/cer``, ``eval/speaker_similarity`` among them). This callback adds, after each evaluation,
every clip ``EvalGeneration`` generated (``eval_audio/N``) and what it was asked to say and what the
ASR model heard (``eval_audio/N/text``), through that callback's own writer: the same event file,
whatever log folder the installed transformers chose.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from transformers import TrainerCallback

__all__ = ["TensorBoardAudio", "add_tensorboard_audio"]


class TensorBoardAudio(TrainerCallback):
    def __init__(self, tensorboard: Any, eval_generation: Any):
        self.tensorboard = tensorboard  # the Trainer's TensorBoardCallback, whose writer this uses
        self.eval_generation = eval_generation

    def on_evaluate(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        writer = self.tensorboard.tb_writer
        # Only the main process has a writer (the others generated the same clips).
        if writer is None or not state.is_world_process_zero:
            return
        for index, (text, transcript, clip) in enumerate(self.eval_generation.samples):
            writer.add_text(f"eval_audio/{index}/text", f"asked: {text}  \nheard: {transcript}", state.global_step)
            if clip is not None and clip[0].size:
                # TensorBoard stores audio as 16-bit PCM of samples in [-1, 1]; a random model's
                # decoder can overshoot.
                samples = np.clip(clip[0], -1.0, 1.0).reshape(1, -1)
                writer.add_audio(f"eval_audio/{index}", samples, state.global_step, sample_rate=clip[1])
        writer.flush()


def add_tensorboard_audio(trainer: Any, eval_generation: Any) -> None:
    """Add ``TensorBoardAudio`` when the run reports to TensorBoard and generates at evaluation."""
    from transformers.integrations import TensorBoardCallback

    if eval_generation is None:
        return
    for callback in trainer.callback_handler.callbacks:
        if isinstance(callback, TensorBoardCallback):
            trainer.add_callback(TensorBoardAudio(callback, eval_generation))
            return
