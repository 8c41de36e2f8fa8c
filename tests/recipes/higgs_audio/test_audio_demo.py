"""``--demo --demo_audio`` (what ``python envs/run.py demo [--stack 5] --audio`` runs): a folder of
real WAVs becomes a manifest, is pre-encoded by the ``encode`` command, trains, generates and is
decoded to generated.wav by this stack's real (tiny, random) audio tokenizer."""

from __future__ import annotations

import contextlib
import io
import json

import numpy as np
import pytest
import soundfile

from kwarg_guard.recipes.higgs_audio import main
from kwarg_guard.recipes.higgs_audio.encode import main as encode
from kwarg_guard.recipes.higgs_audio.tiny_audio import DEMO_CLIPS
from tests.helpers import HAS_TORCHAUDIO, needs_torchaudio
from tests.helpers.higgs_audio import BACKEND

OPTIONS = ["--demo", "--demo_audio", "true", "--num_train_epochs", "2"]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """Pre-encode, then the demo run on the same folder: (output folder, the run, its stdout, the
    cache entries' modification times after the pre-encode and after the run)."""
    output = tmp_path_factory.mktemp("demo")
    assert encode([*OPTIONS, "--output_dir", str(output)]) == 0
    cache = output / "demo_data" / "clips" / ".higgs_codes"
    encoded = {p.name: p.stat().st_mtime_ns for p in cache.glob("*.npy")}
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        result = main([*OPTIONS, "--output_dir", str(output)])
    reused = {p.name: p.stat().st_mtime_ns for p in cache.glob("*.npy")}
    return output, result, printed.getvalue(), encoded, reused


class TestAudioDemo:
    pytestmark = needs_torchaudio

    def test_every_wav_of_the_folder_is_in_the_manifest(self, run):
        output = run[0]
        manifest = output / "demo_data" / "clips" / "manifest.jsonl"
        audio = sorted(json.loads(line)["audio"] for line in manifest.read_text().splitlines())
        assert audio == sorted(name for name, *_ in DEMO_CLIPS)

    def test_the_pre_encode_filled_the_cache_and_the_run_reused_it(self, run):
        _, _, _, encoded, reused = run
        assert len(encoded) == len(DEMO_CLIPS)
        assert reused == encoded  # nothing re-encoded or rewritten by the run

    def test_generated_wav_is_the_decoded_frames_at_the_tokenizers_rate(self, run):
        output, result, printed, _, _ = run
        encoder = BACKEND.audio_encoder(
            _tokenizer_args(output / "demo_data" / "audio_tokenizer")
        )  # the folder the demo wrote, loaded as the run loaded it
        frames = np.load(output / "generated_codes.npy").shape[1]
        info = soundfile.info(str(output / "generated.wav"))
        assert frames > 0 and info.frames > 0 and info.channels == 1
        assert info.samplerate == encoder.sampling_rate
        assert abs(info.frames - frames * encoder.hop_length) < encoder.hop_length
        assert result.generation.wav == output / "generated.wav"
        assert printed.rstrip().splitlines()[-1] == f"generated audio: {(output / 'generated.wav').resolve()}"


def _tokenizer_args(folder):
    from types import SimpleNamespace

    return SimpleNamespace(
        audio_tokenizer=str(folder), audio_tokenizer_revision=None, hubert_revision=None, audio_tokenizer_device="cpu"
    )


@pytest.mark.skipif(HAS_TORCHAUDIO, reason="checks the refusal without torchaudio; this stack has it")
def test_without_torchaudio_the_audio_demo_says_what_to_install(tmp_path, capsys):
    from kwarg_guard.recipes.higgs_audio import cli

    assert cli([*OPTIONS, "--output_dir", str(tmp_path)]) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1
    assert 'needs torchaudio, which is not installed: pip install "torchaudio==' in error
    assert not (tmp_path / "demo_data").exists()  # refused before anything was written
