"""Reading a JSONL manifest of utterances, with every problem named by its line.

One JSON object per line; paths are relative to the manifest's folder::

    {"text": "Words to say.", "audio": "clips/0001.wav"}
    {"text": "Words to say.", "audio_codes": "codes/0002.npy"}
    {"text": "...", "audio": "a.wav", "scene": "Recorded in a quiet room.", "speaker": "a warm, low voice"}
    {"text": "...", "audio": "b.wav", "ref_audio": "ref.wav", "ref_text": "What the reference says."}

``audio_codes`` / ``ref_audio_codes`` may also be inline lists (one list per codebook). The whole
manifest is checked before anything is encoded or cached, and all problems are reported at once.
Manifests and transcripts are read as UTF-8.

    python -m kwarg_guard.recipes.higgs_audio.manifest clips/ [--output clips/manifest.jsonl] [--force] [--transcribe]

writes a manifest for a folder (and its subfolders) of ``name.wav`` + ``name.txt`` pairs (``.WAV``
too), says which files it skipped and why, writes missing transcripts with an ASR model when told
to (``--transcribe``), and never overwrites an existing manifest unless told to.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = [
    "PLACEHOLDERS",
    "AudioSource",
    "FolderManifest",
    "ManifestError",
    "Utterance",
    "manifest_from_folder",
    "read_manifest",
]

# Text that would put an audio placeholder into the prompt without audio for it.
PLACEHOLDERS = ("<|AUDIO|>", "<|AUDIO_OUT|>")
_KNOWN_FIELDS = {"text", "audio", "audio_codes", "scene", "speaker", "ref_audio", "ref_audio_codes", "ref_text"}


class ManifestError(ValueError):
    """A manifest has problems; ``problems`` lists ``(line, message)``, line ``None`` for the whole file."""

    def __init__(self, path: Path, problems: list):
        self.path = path
        self.problems = problems
        lines = "\n".join(f"  {self._where(line)}: {message}" for line, message in problems)
        super().__init__(f"{len(problems)} problem(s) in manifest {path}:\n{lines}")

    def _where(self, line: int | None) -> str:
        return f"{self.path}" if line is None else f"{self.path}:{line}"

    def one_line(self) -> str:
        """Every problem, on one line, for a command-line error."""
        listed = "; ".join(f"{self._where(line)}: {message}" for line, message in self.problems)
        return f"{len(self.problems)} problem(s) in manifest {self.path}: {listed}"


@dataclass(frozen=True)
class AudioSource:
    """Where one audio segment's codes come from: a WAV to encode, a .npy file, or inline codes."""

    wav: Path | None = None
    codes_file: Path | None = None
    inline_codes: tuple | None = None

    def describe(self) -> str:
        return str(self.wav or self.codes_file or "inline codes")


@dataclass(frozen=True)
class Utterance:
    line: int
    text: str
    audio: AudioSource
    scene: str | None = None
    speaker: str | None = None
    ref_audio: AudioSource | None = None
    ref_text: str | None = None


def read_manifest(path, num_codebooks: int | None, codebook_size: int | None) -> list:
    """Parse and check ``path``; return ``Utterance`` s. With ``None`` for the model's sizes,
    codes are checked only for what every model needs.

    Raises:
        ManifestError: listing every problem with its line number.
        FileNotFoundError: the manifest itself does not exist.
    """
    path = Path(path)
    folder = path.parent
    utterances: list[Utterance] = []
    problems: list[tuple[int | None, str]] = []
    for line_number, raw in enumerate(path.read_bytes().splitlines(), start=1):
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            problems.append(
                (
                    line_number,
                    f"not UTF-8 (byte {raw[exc.start]:#04x} at column {exc.start + 1}); save the manifest as UTF-8",
                )
            )
            continue
        if not line.strip():
            continue
        found: list[str] = []
        utterance = _parse_line(line, line_number, folder, num_codebooks, codebook_size, found)
        problems.extend((line_number, message) for message in found)
        if utterance is not None and not found:
            utterances.append(utterance)
    if not utterances and not problems:
        problems.append(
            (
                None,
                (
                    "the manifest is empty: write one JSON object per utterance, or make one for a folder of "
                    "clips with: python -m kwarg_guard.recipes.higgs_audio.manifest FOLDER"
                ),
            )
        )
    if problems:
        raise ManifestError(path, problems)
    return utterances


def _parse_line(line, line_number, folder, num_codebooks, codebook_size, problems):
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        cut = exc.pos >= len(line.rstrip())
        problems.append(
            f"not valid JSON ({exc.msg} at column {exc.colno}"
            + ("; the line ends before the object does: is it truncated?" if cut else "")
            + ")"
        )
        return None
    if not isinstance(record, dict):
        problems.append(f"expected a JSON object, got {type(record).__name__}")
        return None
    unknown = sorted(set(record) - _KNOWN_FIELDS)
    if unknown:
        problems.append(f"unknown field(s) {', '.join(unknown)}; known: {', '.join(sorted(_KNOWN_FIELDS))}")
    text = record.get("text")
    if text is not None and not isinstance(text, str):
        problems.append(f"text must be a string, not {type(text).__name__}")
    elif not isinstance(text, str) or not text.strip():
        problems.append("empty text: every utterance needs the words its audio says")
    else:
        _check_placeholders("text", text, problems)
    audio = _audio_source(record, "audio", "audio_codes", folder, num_codebooks, codebook_size, problems, required=True)
    ref_audio = _audio_source(
        record, "ref_audio", "ref_audio_codes", folder, num_codebooks, codebook_size, problems, required=False
    )
    ref_text = record.get("ref_text")
    if ref_text is not None:
        if not isinstance(ref_text, str):
            problems.append(f"ref_text must be a string, not {type(ref_text).__name__}")
        elif not ref_text.strip():
            problems.append("ref_text is empty; give the reference's transcript or leave both ref fields out")
        else:
            _check_placeholders("ref_text", ref_text, problems)
    if ref_text and ref_audio is None and not any("ref_audio" in p for p in problems):
        problems.append("ref_text has no ref_audio or ref_audio_codes: its audio placeholder would have no audio")
    if ref_audio is not None and not ref_text:
        problems.append("ref_audio needs ref_text (the reference's transcript) for voice cloning")
    for field in ("scene", "speaker"):
        value = record.get(field)
        if value is not None and not isinstance(value, str):
            problems.append(f"{field} must be a string")
        elif isinstance(value, str):
            _check_placeholders(field, value, problems)
    if problems or not isinstance(text, str):
        return None
    return Utterance(line_number, text.strip(), audio, record.get("scene"), record.get("speaker"), ref_audio, ref_text)


def _check_placeholders(field, text, problems):
    for placeholder in PLACEHOLDERS:
        if placeholder in text:
            problems.append(
                f"{field} contains the audio placeholder {placeholder} with no audio for it; "
                "remove it (the recipe adds placeholders for the audio fields itself)"
            )


def _audio_source(record, wav_field, codes_field, folder, num_codebooks, codebook_size, problems, required):
    wav, codes = record.get(wav_field), record.get(codes_field)
    if wav is not None and codes is not None:
        problems.append(f"give {wav_field} or {codes_field}, not both")
        return None
    if wav is None and codes is None:
        if required:
            problems.append(f"no audio: give {wav_field} (a WAV path) or {codes_field} (a .npy path or inline codes)")
        return None
    if wav is not None:
        if not isinstance(wav, str):
            problems.append(f"{wav_field} must be a path string")
            return None
        wav_path = (folder / wav).resolve()
        if not wav_path.is_file():
            problems.append(f"{wav_field} file not found: {wav_path}")
            return None
        return AudioSource(wav=wav_path)
    if isinstance(codes, str):
        codes_path = (folder / codes).resolve()
        if not codes_path.is_file():
            problems.append(f"{codes_field} file not found: {codes_path}")
            return None
        try:
            array = np.load(codes_path)
        except Exception as exc:
            problems.append(f"{codes_field} file {codes_path} is not a readable .npy array ({exc})")
            return None
        source = AudioSource(codes_file=codes_path)
    else:
        try:
            array = np.asarray(codes)
        except ValueError:
            array = None
        if array is None or array.dtype == object:
            problems.append(f"{codes_field} must be a list of equally long lists of integers (one per codebook)")
            return None
        source = AudioSource(
            inline_codes=tuple(tuple(int(v) for v in row) for row in array.tolist()) if array.ndim == 2 else None
        )
    message = check_codes(array, num_codebooks, codebook_size)
    if message:
        problems.append(f"{codes_field}: {message}")
        return None
    return source


def check_codes(array, num_codebooks: int | None, codebook_size: int | None) -> str | None:
    """Why ``array`` is not a valid (num_codebooks, frames) code matrix, or ``None``.

    ``None`` for the model's sizes checks only what holds for every model (before the model's
    config is read).
    """
    array = np.asarray(array)
    if array.ndim != 2:
        return f"codes must be 2-D (codebooks, frames), got shape {tuple(array.shape)}"
    if num_codebooks is not None and array.shape[0] != num_codebooks:
        return f"codes have {array.shape[0]} codebooks, the model has {num_codebooks}"
    if array.shape[1] == 0:
        return "codes have no frames"
    if not np.issubdtype(array.dtype, np.integer):
        return f"codes must be integers, got {array.dtype}"
    if array.min() < 0 or (codebook_size is not None and array.max() >= codebook_size):
        limit = "" if codebook_size is None else f", {codebook_size}"
        return f"codes must lie in [0{limit}), got [{array.min()}, {array.max()}]"
    return None


# Audio formats a folder of clips often holds that the recipe does not read: reported, not guessed at.
_OTHER_AUDIO = {".flac", ".mp3", ".ogg", ".opus", ".m4a", ".aac", ".aif", ".aiff", ".wma"}


@dataclass
class FolderManifest:
    """The manifest lines for a folder, and what was left out or transcribed on the way."""

    lines: list[str]
    skipped: list[tuple[Path, str]] = dataclasses.field(default_factory=list)  # (file, why)
    transcribed: list[tuple[Path, str]] = dataclasses.field(default_factory=list)  # (transcript written, its text)


def manifest_from_folder(
    folder,
    scene: str | None = None,
    speaker: str | None = None,
    transcribe: Callable[[Path], str] | None = None,
    relative_to=None,
) -> FolderManifest:
    """Manifest lines for the ``name.wav`` (or ``.WAV``) + ``name.txt`` (the transcript, UTF-8) pairs
    in ``folder`` and its subfolders, audio paths relative to ``relative_to`` (the manifest's
    folder; default ``folder``).

    A WAV without a usable transcript, an unreadable WAV and audio in another format are skipped
    and listed with the reason. With ``transcribe`` (WAV path -> text), a missing transcript is
    written from what it returns instead.

    Raises:
        ValueError: a missing folder, a file given for the folder, or no usable WAV (what was skipped named).
    """
    folder = Path(folder)
    if not folder.exists():
        raise ValueError(f"folder {folder} not found")
    if not folder.is_dir():
        raise ValueError(f"{folder} is a file; give the folder that holds the .wav and .txt pairs")
    base = Path(relative_to) if relative_to is not None else folder
    files = sorted(path for path in folder.rglob("*") if path.is_file())
    result = FolderManifest([])
    result.skipped = [
        (path, f"not a WAV: convert it (e.g. ffmpeg -i {path.name} {path.stem}.wav)")
        for path in files
        if path.suffix.lower() in _OTHER_AUDIO
    ]
    for wav in (path for path in files if path.suffix.lower() == ".wav"):
        text, why = _clip_text(wav, transcribe, result)
        if text is None:
            result.skipped.append((wav, why))
            continue
        record = {"text": text, "audio": Path(os.path.relpath(wav, base)).as_posix()}
        if scene:
            record["scene"] = scene
        if speaker:
            record["speaker"] = speaker
        result.lines.append(json.dumps(record, ensure_ascii=False))
    if not result.lines:
        reasons = "; ".join(f"{path.relative_to(folder).as_posix()}: {why}" for path, why in result.skipped)
        raise ValueError(f"no usable .wav file in {folder}" + (f" ({reasons})" if reasons else ""))
    result.skipped.sort()
    return result


def _clip_text(wav: Path, transcribe: Callable[[Path], str] | None, result: FolderManifest) -> tuple:
    """``(transcript, None)`` or ``(None, why the clip is skipped)``."""
    import soundfile

    try:
        frames = soundfile.info(str(wav)).frames
    except Exception as exc:
        return None, f"not a readable WAV ({str(exc).splitlines()[0]})"
    if frames == 0:
        return None, "holds no samples"
    transcript = wav.with_suffix(".txt")
    if not transcript.is_file():
        if transcribe is None:
            return None, f"no transcript {transcript.name} next to it (write it, or pass --transcribe)"
        heard = transcribe(wav).strip()
        if not heard:
            return None, "no transcript, and the ASR model heard no words in it"
        transcript.write_text(heard + "\n", encoding="utf-8")
        result.transcribed.append((transcript, heard))
        return heard, None
    try:
        text = transcript.read_text(encoding="utf-8").strip()
    except UnicodeDecodeError as exc:
        return (
            None,
            f"{transcript.name} is not UTF-8 (byte {exc.object[exc.start]:#04x} at offset {exc.start}); save it as UTF-8",
        )
    if not text:
        return None, f"{transcript.name} is empty: every clip needs the words it says"
    return text, None


def _recognizer(asr_model: str) -> Callable[[Path], str]:
    """WAV -> transcript; the model loads for the first missing transcript (none missing: no load)."""
    from .quality import SpeechRecognizer, read_clip

    loaded: list[SpeechRecognizer] = []

    def transcribe(wav: Path) -> str:
        if not loaded:
            loaded.append(SpeechRecognizer(asr_model))
        return loaded[0].transcribe(read_clip(wav))

    return transcribe


def main(argv: list[str] | None = None) -> int:
    """The command line: write a manifest for a folder; errors are one line with exit code 2."""
    import argparse
    import sys

    from .arguments import ASR_MODEL

    parser = argparse.ArgumentParser(
        description="Write a manifest for a folder (and its subfolders) of name.wav + name.txt pairs."
    )
    parser.add_argument("folder")
    parser.add_argument("--scene", help="scene description for every line (e.g. 'Recorded in a quiet room.')")
    parser.add_argument("--speaker", help="speaker description for every line")
    parser.add_argument("--output", help="where to write it (default: FOLDER/manifest.jsonl)")
    parser.add_argument("--force", action="store_true", help="overwrite an existing manifest")
    parser.add_argument(
        "--transcribe",
        action="store_true",
        help="write the missing name.txt transcripts with an ASR model (check them before training)",
    )
    parser.add_argument("--asr_model", default=ASR_MODEL, help=f"ASR model for --transcribe (default {ASR_MODEL})")
    arguments = parser.parse_args(argv)
    output = Path(arguments.output) if arguments.output else Path(arguments.folder) / "manifest.jsonl"
    try:
        if output.exists() and not arguments.force:
            raise ValueError(f"{output} exists; pass --force to overwrite it, or --output for another file")
        if output.is_dir():
            raise ValueError(f"{output} is a folder; --output takes a file name")
        transcribe = _recognizer(arguments.asr_model) if arguments.transcribe else None
        made = manifest_from_folder(
            arguments.folder, arguments.scene, arguments.speaker, transcribe, relative_to=output.parent
        )
        output.write_text("\n".join(made.lines) + "\n", encoding="utf-8")
    except (ValueError, OSError) as exc:
        sys.stderr.write(f"manifest: {exc}\n")
        return 2
    for transcript, text in made.transcribed:
        print(f"transcribed: {transcript} ({text!r}; check it)")
    for path, why in made.skipped:
        print(f"skipped: {path}: {why}")
    print(f"wrote {output} ({len(made.lines)} utterances, {len(made.skipped)} file(s) skipped)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
