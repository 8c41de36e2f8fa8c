"""Manifests and the folder-to-manifest helper: UTF-8 with the file and line named, messages that
say what is wrong, and no manifest overwritten without being asked."""

import numpy as np
import pytest
import soundfile

from kwarg_guard.recipes.higgs_audio.manifest import ManifestError, manifest_from_folder, read_manifest
from tests.helpers.higgs_audio import run_manifest_helper

CODES = "[[1, 2], [3, 4], [5, 6], [7, 8]]"


def clip(path):
    soundfile.write(path, 0.1 * np.sin(np.arange(1600) / 5.0), 16000)


class TestReading:
    @pytest.mark.parametrize(
        "line, message",
        [
            ('{"text": 42, "audio_codes": ' + CODES + "}", "text must be a string, not int"),
            ('{"text": "  ", "audio_codes": ' + CODES + "}", "empty text"),
            ('{"text": "hi", "audio_codes": ' + CODES, "the line ends before the object does: is it truncated?"),
            ('{"text": "hi", "ref_text": ["x"], "audio_codes": ' + CODES + "}", "ref_text must be a string, not list"),
        ],
        ids=["non-string-text", "empty-text", "truncated", "non-string-ref"],
    )
    def test_each_problem_is_named_by_file_and_line(self, tmp_path, line, message):
        path = tmp_path / "manifest.jsonl"
        path.write_text('{"text": "fine", "audio_codes": ' + CODES + "}\n" + line + "\n", encoding="utf-8")
        with pytest.raises(ManifestError) as caught:
            read_manifest(path, 4, 32)
        assert caught.value.problems[0][0] == 2 and message in caught.value.problems[0][1]
        assert f"{path}:2: " in caught.value.one_line() and "\n" not in caught.value.one_line()

    def test_utf8_text_is_read_and_a_bad_byte_names_its_line(self, tmp_path):
        path = tmp_path / "manifest.jsonl"
        path.write_bytes(
            ('{"text": "Grüße, señor", "audio_codes": ' + CODES + "}\n").encode()
            + b'{"text": "caf\xe9", "audio_codes": '
            + CODES.encode()
            + b"}\n"
        )
        with pytest.raises(ManifestError) as caught:
            read_manifest(path, 4, 32)
        ((line, message),) = caught.value.problems
        assert line == 2 and "not UTF-8 (byte 0xe9 at column 14)" in message
        path.write_text('{"text": "Grüße, señor", "audio_codes": ' + CODES + "}\n", encoding="utf-8")
        assert read_manifest(path, 4, 32)[0].text == "Grüße, señor"


class TestFolderHelper:
    @pytest.fixture
    def clips(self, tmp_path):
        folder = tmp_path / "clips"
        folder.mkdir()
        clip(folder / "a.wav")
        (folder / "a.txt").write_text("Ein schöner Tag.\n", encoding="utf-8")
        return folder

    def test_writes_utf8_and_never_overwrites_unless_told(self, clips):
        assert run_manifest_helper(clips).returncode == 0
        written = (clips / "manifest.jsonl").read_text(encoding="utf-8")
        assert "Ein schöner Tag." in written
        (clips / "manifest.jsonl").write_text("mine\n")
        refused = run_manifest_helper(clips)
        assert refused.returncode == 2 and "exists; pass --force" in refused.stderr and refused.stderr.count("\n") == 1
        assert (clips / "manifest.jsonl").read_text() == "mine\n"
        assert run_manifest_helper(clips, "--force").returncode == 0 and "schöner" in (
            clips / "manifest.jsonl"
        ).read_text(encoding="utf-8")

    def test_output_elsewhere(self, clips, tmp_path):
        assert run_manifest_helper(clips, "--output", tmp_path / "other.jsonl").returncode == 0
        assert "Ein schöner Tag." in (tmp_path / "other.jsonl").read_text(encoding="utf-8")

    @pytest.mark.parametrize(
        "arrange, message",
        [
            (lambda f: f.parent / "nowhere", "not found"),
            (lambda f: f / "a.wav", "is a file; give the folder"),
        ],
        ids=["missing-folder", "file-for-folder"],
    )
    def test_clear_errors(self, clips, arrange, message):
        completed = run_manifest_helper(arrange(clips))
        assert completed.returncode == 2 and message in completed.stderr and "Traceback" not in completed.stderr

    def test_an_empty_or_undecodable_transcript_is_refused(self, clips):
        (clips / "a.txt").write_text("   \n")
        with pytest.raises(ValueError, match=r"a\.txt is empty"):
            manifest_from_folder(clips)
        (clips / "a.txt").write_bytes(b"caf\xe9\n")
        with pytest.raises(ValueError, match=r"a\.txt is not UTF-8 \(byte 0xe9"):
            manifest_from_folder(clips)
