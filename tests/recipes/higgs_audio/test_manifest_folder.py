"""The folder-to-manifest helper on real WAV files: subfolders, upper-case ``.WAV``, every skipped file
named with its reason, paths relative to wherever the manifest goes, ``--transcribe``; and manifest
errors that list every problem, an empty manifest included."""

import json

import numpy as np
import pytest
import soundfile

from kwarg_guard.recipes.higgs_audio.manifest import ManifestError, manifest_from_folder, read_manifest
from kwarg_guard.recipes.higgs_audio.tiny_quality import write_tiny_asr
from tests.helpers.higgs_audio import run_manifest_helper

CODES = "[[1, 2], [3, 4], [5, 6], [7, 8]]"


def clip(path, rate=16000, channels=1, subtype="PCM_16", text=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    samples = 0.2 * np.sin(np.arange(rate // 2) / 7.0)
    soundfile.write(path, np.stack([samples] * channels, axis=1), rate, subtype=subtype)
    if text is not None:
        path.with_suffix(".txt").write_text(text + "\n", encoding="utf-8")
    return path


@pytest.fixture
def folder(tmp_path):
    """Usable clips at the top, in a subfolder and deeper, one upper-case; and five that are not."""
    clips = tmp_path / "clips"
    clip(clips / "a.wav", text="First.")
    clip(clips / "B.WAV", 44100, 2, "FLOAT", text="Second.")
    clip(clips / "speaker_1" / "c.wav", 22050, 2, "PCM_24", text="Third.")
    clip(clips / "speaker_1" / "deeper" / "d.Wav", 8000, text="Fourth.")
    clip(clips / "untranscribed.wav")
    clip(clips / "speaker_1" / "blank.wav", text="  ")
    (clips / "broken.wav").write_bytes(b"not a RIFF file")
    (clips / "broken.txt").write_text("Never read.\n")
    (clips / "song.mp3").write_bytes(b"ID3")
    (clips / "notes.md").write_text("not audio: not reported\n")
    return clips


def test_subfolders_and_upper_case_wav_are_found_and_read_back(folder):
    completed = run_manifest_helper(folder)
    assert completed.returncode == 0, completed.stderr
    utterances = read_manifest(folder / "manifest.jsonl", 4, 32)
    found = {u.audio.wav: u.text for u in utterances}
    assert found == {
        (folder / "a.wav").resolve(): "First.",
        (folder / "B.WAV").resolve(): "Second.",
        (folder / "speaker_1" / "c.wav").resolve(): "Third.",
        (folder / "speaker_1" / "deeper" / "d.Wav").resolve(): "Fourth.",
    }


def test_each_skipped_file_is_one_line_with_its_reason(folder):
    output = run_manifest_helper(folder).stdout.splitlines()
    skipped = sorted(line for line in output if line.startswith("skipped: "))
    assert skipped == sorted(
        [
            (
                f"skipped: {folder / 'untranscribed.wav'}: no transcript untranscribed.txt next to it "
                "(write it, or pass --transcribe)"
            ),
            f"skipped: {folder / 'speaker_1' / 'blank.wav'}: blank.txt is empty: every clip needs the words it says",
            f"skipped: {folder / 'song.mp3'}: not a WAV: convert it (e.g. ffmpeg -i song.mp3 song.wav)",
            next(
                line for line in skipped if line.startswith(f"skipped: {folder / 'broken.wav'}: not a readable WAV (")
            ),
        ]
    )
    assert output[-1] == f"wrote {folder / 'manifest.jsonl'} (4 utterances, 4 file(s) skipped)"


def test_paths_are_relative_to_the_manifest_wherever_it_is_written(folder, tmp_path):
    elsewhere = tmp_path / "manifests" / "run.jsonl"
    elsewhere.parent.mkdir()
    assert run_manifest_helper(folder, "--output", elsewhere).returncode == 0
    first = json.loads(elsewhere.read_text(encoding="utf-8").splitlines()[0])
    assert first["audio"] == "../clips/B.WAV"
    assert {u.audio.wav for u in read_manifest(elsewhere, 4, 32)} >= {(folder / "a.wav").resolve()}


def test_a_folder_with_nothing_usable_is_one_line_naming_why(tmp_path):
    clip(tmp_path / "lonely.wav")
    completed = run_manifest_helper(tmp_path)
    assert completed.returncode == 2 and completed.stderr.count("\n") == 1
    assert "no usable .wav file in" in completed.stderr and "lonely.wav: no transcript lonely.txt" in completed.stderr


class TestTranscribe:
    @pytest.fixture(scope="class")
    def asr(self, tmp_path_factory):
        return write_tiny_asr(tmp_path_factory.mktemp("asr") / "whisper")

    def test_missing_transcripts_are_written_by_the_asr_model(self, tmp_path, asr):
        clip(tmp_path / "known.wav", text="Known words.")
        clip(tmp_path / "sub" / "unknown.wav")
        made = manifest_from_folder(tmp_path, transcribe=lambda wav: f"heard {wav.stem}")
        assert (tmp_path / "sub" / "unknown.txt").read_text(encoding="utf-8") == "heard unknown\n"
        assert made.transcribed == [(tmp_path / "sub" / "unknown.txt", "heard unknown")] and not made.skipped
        completed = run_manifest_helper(tmp_path / "sub", "--transcribe", "--asr_model", asr, "--force")
        assert completed.returncode == 0, completed.stderr
        (tmp_path / "sub" / "unknown.txt").unlink()
        completed = run_manifest_helper(tmp_path / "sub", "--transcribe", "--asr_model", asr, "--force")
        written = (tmp_path / "sub" / "unknown.txt").read_text(encoding="utf-8").strip()
        heard = read_manifest(tmp_path / "sub" / "manifest.jsonl", 4, 32)[0].text
        assert (
            written == heard
            and f"transcribed: {tmp_path / 'sub' / 'unknown.txt'} ({heard!r}; check it)" in completed.stdout
        )

    def test_the_asr_model_loads_only_for_a_missing_transcript(self, tmp_path):
        clip(tmp_path / "known.wav", text="Known words.")
        assert run_manifest_helper(tmp_path, "--transcribe", "--asr_model", tmp_path / "no-model").returncode == 0
        clip(tmp_path / "unknown.wav")
        completed = run_manifest_helper(tmp_path, "--transcribe", "--asr_model", tmp_path / "no-model", "--force")
        assert completed.returncode == 2 and completed.stderr.count("\n") == 1
        assert f"--asr_model {tmp_path / 'no-model'}: cannot load it" in completed.stderr


class TestManifestErrors:
    def test_every_problem_is_listed(self, tmp_path):
        path = tmp_path / "manifest.jsonl"
        path.write_text("".join(f'{{"text": "", "audio_codes": {CODES}}}\n' for _ in range(7)), encoding="utf-8")
        with pytest.raises(ManifestError) as caught:
            read_manifest(path, 4, 32)
        line = caught.value.one_line()
        assert line.startswith(f"7 problem(s) in manifest {path}: ") and "more" not in line
        assert all(f"{path}:{number}: empty text" in line for number in range(1, 8))

    @pytest.mark.parametrize("content", ["", "\n  \n"], ids=["empty", "blank-lines"])
    def test_an_empty_manifest_says_so_without_a_line_number(self, tmp_path, content):
        path = tmp_path / "manifest.jsonl"
        path.write_text(content)
        with pytest.raises(ManifestError) as caught:
            read_manifest(path, 4, 32)
        assert caught.value.one_line() == (
            f"1 problem(s) in manifest {path}: {path}: the manifest is empty: write one JSON object per utterance, "
            "or make one for a folder of clips with: python -m kwarg_guard.recipes.higgs_audio.manifest FOLDER"
        )
        assert ":0:" not in str(caught.value)
