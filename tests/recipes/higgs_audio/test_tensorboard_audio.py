"""``--report_to tensorboard`` with ``--eval_generate``: each evaluation's generated clips, their texts
and the quality metrics are in the event files, read back with TensorBoard's own reader."""

import importlib.util

import pytest

from tests.helpers import STACK
from tests.helpers.higgs_audio import eval_generation_run

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("tensorboard") is None,
    reason=f"needs tensorboard, which the {STACK} stack does not pin; runs on the 5 stack (the 4.46-audio stack runs only the audio-marked tests)",
)


def train(tmp_path, report_to):
    """A trained 2-step demo run evaluated at every step, scored by tiny models; returns its hook."""
    trainer, hook = eval_generation_run(tmp_path, report_to)
    trainer.train()
    return hook


def events(folder):
    """The one event file under ``folder``, read by TensorBoard's EventAccumulator."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    files = list(folder.rglob("events.out.tfevents.*"))
    assert len(files) == 1, files
    accumulator = EventAccumulator(str(files[0].parent), size_guidance={"audio": 0, "scalars": 0, "tensors": 0})
    accumulator.Reload()
    return accumulator


def test_each_evaluations_clips_texts_and_metrics_are_in_the_event_file(tmp_path):
    hook = train(tmp_path, "tensorboard")
    accumulator = events(tmp_path / "out")
    tags = accumulator.Tags()
    for metric in ("eval/wer", "eval/cer", "eval/speaker_similarity"):
        assert [event.step for event in accumulator.Scalars(metric)] == [0, 1, 2]
    # A clip with no frames has no audio; the tiny model's clips here have at least one.
    assert all(clip is not None and clip[0].size for _, _, clip in hook.samples)
    assert sorted(tags["audio"]) == ["eval_audio/0", "eval_audio/1"]
    for index in range(2):
        clips = accumulator.Audio(f"eval_audio/{index}")
        assert [clip.step for clip in clips] == [0, 1, 2]
        assert {clip.sample_rate for clip in clips} == {16000}
        assert clips[-1].length_frames == hook.samples[index][2][0].size
        assert clips[-1].encoded_audio_string[:4] == b"RIFF"
    # What each clip was asked to say and what the ASR heard, as text beside it.
    texts = [tag for tag in tags["tensors"] if tag.startswith("eval_audio/")]
    assert sorted(texts) == ["eval_audio/0/text/text_summary", "eval_audio/1/text/text_summary"]
    last = accumulator.Tensors("eval_audio/0/text/text_summary")[-1]
    said = last.tensor_proto.string_val[0].decode()
    assert said == f"asked: {hook.samples[0][0]}  \nheard: {hook.samples[0][1]}" and last.step == 2


def test_without_tensorboard_in_report_to_no_event_file_is_written(tmp_path):
    train(tmp_path, "none")
    assert not list((tmp_path / "out").rglob("events.out.tfevents.*"))
