"""``--report_to tensorboard`` with ``--eval_generate``: each evaluation's generated clips, their texts
and the quality metrics are in the event files, read back with TensorBoard's own reader."""

import importlib.util

import numpy as np
import pytest

from kwarg_guard.recipes.higgs_audio.arguments import parse_arguments
from kwarg_guard.recipes.higgs_audio.data import load_run_data
from kwarg_guard.recipes.higgs_audio.eval_generation import build_eval_generation
from kwarg_guard.recipes.higgs_audio.finetune import prepare_model
from kwarg_guard.recipes.higgs_audio.tiny_quality import write_tiny_asr, write_tiny_speaker_model
from kwarg_guard.recipes.higgs_audio.trainer import HiggsAudioTrainer
from tests.helpers import STACK
from tests.helpers.higgs_audio import BACKEND

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("tensorboard") is None,
    reason=f"needs tensorboard, which the {STACK} stack does not pin; runs on the 5 and 4.46-audio stacks",
)


def tones(codes):
    """Codes to sound without an audio tokenizer (stack 5 has no torchaudio for one): 40 ms of a
    tone per frame, its pitch set by the first codebook's code."""
    rate, frame = 16000, 640
    t = np.arange(frame) / rate
    return np.concatenate([0.3 * np.sin(2 * np.pi * (120 + 15 * int(c)) * t) for c in codes[0]]).astype(
        np.float32
    ), rate


def train(tmp_path, report_to):
    """A 2-step demo run evaluated at every step, scored by tiny models; returns its hook."""
    argv = ["--demo", "--output_dir", str(tmp_path / "out"), "--eval_generate", "2", "--max_steps", "2"]
    argv += ["--eval_steps", "1", "--generate_max_new_tokens", "8", "--report_to", report_to]
    argv += ["--asr_model", str(write_tiny_asr(tmp_path / "asr"))]
    argv += ["--speaker_model", str(write_tiny_speaker_model(tmp_path / "speaker"))]
    model_args, data_args, lora_args, recipe_args, training_args = parse_arguments(argv)
    config, tokenizer = BACKEND.config_and_tokenizer(model_args, True)
    data = load_run_data(BACKEND, data_args, model_args, training_args, config, tokenizer, tmp_path / "out")
    hook = build_eval_generation(
        BACKEND, model_args, recipe_args, training_args, data, tokenizer, tmp_path / "out", to_waveform=tones
    )
    model = prepare_model(BACKEND.load_model(model_args, 0, False), lora_args, False, BACKEND)
    trainer = HiggsAudioTrainer(
        model=model,
        args=training_args,
        train_dataset=data.train,
        eval_dataset=data.eval,
        data_collator=BACKEND.collator(config),
        backend=BACKEND,
        eval_generation=hook,
    )
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
