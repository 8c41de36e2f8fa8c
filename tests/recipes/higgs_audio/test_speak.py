"""``speak``: from a demo run's adapter folder to a WAV, on this stack's backend; its refusals."""

import numpy as np
import pytest

from kwarg_guard.recipes.higgs_audio.speak import cli
from tests.helpers import HAS_TORCHAUDIO, audio_test
from tests.helpers.higgs_audio import BACKEND, train_demo

OTHER = "native" if BACKEND.name == "legacy" else "legacy"
# Without training data speak has no first utterance to take these from: both runs are told.
CONTEXT = ["--generate_scene", "A quiet room.", "--generate_speaker", "A calm voice."]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A demo run that also generated its greedy sample: the adapter folder speak starts from."""
    folder = tmp_path_factory.mktemp("demo")
    train_demo(folder, "--generate_text", "Hello there.", "--report_to", "none", *CONTEXT)
    return folder


def speak(run, output, *options):
    return cli(["--demo", "--adapter", str(run), "--output_dir", str(output), *options])


def test_the_demo_adapter_says_what_the_run_generated(run, tmp_path, capsys):
    # Same tiny base (rebuilt from --seed), same adapter, same greedy request: the same codes.
    speak(run, tmp_path / "out", *CONTEXT)
    assert np.array_equal(np.load(tmp_path / "out" / "generated_codes.npy"), np.load(run / "generated_codes.npy"))


@pytest.mark.skipif(HAS_TORCHAUDIO, reason="checks the codes-only answer without torchaudio; this stack has it")
def test_without_torchaudio_the_codes_are_saved_and_one_line_says_why_no_wav(run, tmp_path, capsys):
    assert speak(run, tmp_path / "out") == 1
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last.startswith(f"no WAV: the {BACKEND.name} audio tokenizer needs torchaudio, which is not installed: ")
    assert last.endswith(f"(the codes are in {tmp_path / 'out' / 'generated_codes.npy'})")
    assert np.load(tmp_path / "out" / "generated_codes.npy").shape[1] > 0


@audio_test
def test_the_wav_is_the_decoded_frames_at_the_tokenizers_rate(run, tmp_path, capsys):
    import soundfile

    tokenizer = BACKEND.write_tiny_audio_tokenizer(tmp_path / "audio_tokenizer")
    assert speak(run, tmp_path / "out", "--audio_tokenizer", str(tokenizer)) == 0
    wav = tmp_path / "out" / "generated.wav"
    assert capsys.readouterr().out.strip().splitlines()[-1] == str(wav.resolve())
    from types import SimpleNamespace

    encoder = BACKEND.audio_encoder(
        SimpleNamespace(
            audio_tokenizer=str(tokenizer),
            audio_tokenizer_revision=None,
            hubert_revision=None,
            audio_tokenizer_device="cpu",
        )
    )
    frames = np.load(tmp_path / "out" / "generated_codes.npy").shape[1]
    info = soundfile.info(str(wav))
    assert frames > 0 and info.channels == 1 and info.samplerate == encoder.sampling_rate
    assert info.frames == frames * encoder.hop_length


def refusal(capsys, argv):
    assert cli(argv) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1
    return error


def test_a_missing_adapter_folder_is_one_line(tmp_path, capsys):
    error = refusal(capsys, ["--demo", "--adapter", str(tmp_path / "nope"), "--output_dir", str(tmp_path)])
    assert f"--adapter {tmp_path / 'nope'}: no such folder" in error


def test_an_adapter_of_the_other_backend_is_one_line(run, tmp_path, capsys):
    from kwarg_guard.recipes.higgs_audio.convert import convert

    convert(run, tmp_path / "other", OTHER)
    error = refusal(capsys, ["--demo", "--adapter", str(tmp_path / "other"), "--output_dir", str(tmp_path / "out")])
    assert f"does not fit the {BACKEND.name} backend's model" in error and f"--to {BACKEND.name}" in error
    assert not (tmp_path / "out" / "generated_codes.npy").exists()


def test_a_missing_output_dir_is_one_line(run, capsys):
    assert "give --output_dir" in refusal(capsys, ["--demo", "--adapter", str(run)])
