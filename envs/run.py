"""Set up the pinned environments and run the project's jobs.

    python envs/run.py demo [--stack 5] [recipe options]   # the Higgs Audio demo (4.46: legacy port, 5: native)
    python envs/run.py demo [--stack 5] --audio            # the same from real WAV files to generated.wav
    python envs/run.py test [pytest options]               # checks, then the suite on the four pinned stacks
    python3 envs/run.py gpu-check [--wheels DIR]           # GPU figures, with the Python that has CUDA torch

Only the standard library is used here, so a machine with nothing but Python and pip can run
it. Each stack lives in .venvs/<stack>/ and is rebuilt when its pin file changes.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import venv
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ENVS = ROOT / "envs"
VENVS = ROOT / ".venvs"
LOGS = VENVS / "logs"  # each check's and each stack's pytest output, kept for reading afterwards
PRINTING = threading.Lock()
TOOLS_LOCK = threading.Lock()

# Each stack: its pin file, what goes in with --no-deps after it (packages whose declared
# requirements are wrong for us; see the comment at the top of the pin file), and the pytest
# options that select its tests. The -audio stacks hold torch 2.9.1 with torchaudio (the audio
# tokenizers import it; it has no build for newer torch) and run only the tests marked `audio`,
# which skip on the other stacks, saying which stack runs them.
LEGACY_NO_DEPS = ["boson-multimodal==0.1.1"]
LEGACY_TOKENIZER_NO_DEPS = ["descript-audio-codec==1.0.0", "descript-audiotools==0.7.2"]
STACKS = {
    "4.46": ("stack-4.46.txt", LEGACY_NO_DEPS, []),
    "5": ("stack-5.txt", [], []),
    "4.46-audio": ("stack-4.46-audio.txt", LEGACY_NO_DEPS + LEGACY_TOKENIZER_NO_DEPS, ["-m", "audio"]),
    "5-audio": ("stack-5-audio.txt", [], ["-m", "audio"]),
}
# The stacks every test run needs, whichever it tests: the ports are compared across them.
CROSS_STACKS = ("4.46", "5")
# The stack `demo --audio` runs on, for each demo stack.
AUDIO_STACK = {"4.46": "4.46-audio", "5": "5-audio"}


def log(message: str) -> None:
    with PRINTING:
        print(f"[envs/run.py] {message}", flush=True)


def python_of(env: Path) -> Path:
    return env / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def ensure_stack(name: str) -> Path:
    """Create or reuse .venvs/<name> with the pinned packages and this project installed."""
    pins, no_deps, _ = STACKS[name]
    env = VENVS / f"stack-{name}"
    fingerprint = hashlib.sha256(
        (ENVS / pins).read_bytes() + "\n".join(no_deps).encode() + (ROOT / "pyproject.toml").read_bytes()
    ).hexdigest()
    marker = env / "kwarg_guard-stack.sha256"
    if marker.exists() and marker.read_text() == fingerprint and python_of(env).exists():
        return env
    started = time.monotonic()
    install_log = env / "install.log"
    log(f"{name}: building the stack in {env} from envs/{pins}: minutes the first time, reused afterwards")
    log(f"{name}: the installers' full output: {install_log}")
    venv.EnvBuilder(clear=True, with_pip=True).create(env)
    # --compile-bytecode: the tests start dozens of Pythons, and where PYTHONDONTWRITEBYTECODE is
    # set (it is on CI machines) none of them could save what it compiled: each would compile
    # torch's and transformers' modules again (measured: twice the suite's CPU time).
    uv = [str(installer()), "pip", "install", "--compile-bytecode", "--python", str(python_of(env))]
    uv += local_wheel_folders()
    steps = {
        "the pinned packages": [*uv, "-r", str(ENVS / pins)],
        "the packages installed without their declared requirements": [*uv, "--no-deps", *no_deps],
        "this project (editable)": [str(python_of(env)), "-m", "pip", "install", "-q", "--no-deps", "-e", str(ROOT)],
    }
    with install_log.open("w") as output:
        for what, step in steps.items():
            if step[-1] == "--no-deps":
                continue  # nothing to install without dependencies on this stack
            log(f"{name}: installing {what}")
            if run_with_progress(step, output, install_log, name) != 0:
                sys.stdout.write(install_log.read_text()[-6000:])
                raise SystemExit(
                    f"[envs/run.py] installing the {name} stack failed: {' '.join(step)} (full log: {install_log})"
                )
    marker.write_text(fingerprint)
    log(f"{name}: stack ready in {time.monotonic() - started:.0f}s")
    return env


def installer() -> Path:
    """uv, from .venvs/tools (built by pip from envs/tools.txt the first time)."""
    tools = VENVS / "tools"
    fingerprint = hashlib.sha256((ENVS / "tools.txt").read_bytes()).hexdigest()
    marker = tools / "kwarg_guard-tools.sha256"
    uv = tools / ("Scripts/uv.exe" if os.name == "nt" else "bin/uv")
    with TOOLS_LOCK:  # the stacks build side by side; the first one builds the tools
        if not (marker.exists() and marker.read_text() == fingerprint and uv.exists()):
            log(f"installing the installer (envs/tools.txt) in {tools}")
            venv.EnvBuilder(clear=True, with_pip=True).create(tools)
            pip = [str(python_of(tools)), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
            subprocess.run([*pip, "-r", str(ENVS / "tools.txt")], check=True)
            marker.write_text(fingerprint)
    return uv


def local_wheel_folders() -> list:
    # pip on this kind of machine is configured (PIP_FIND_LINKS) with a folder of local wheels,
    # the CPU build of torch 2.13.0 among them; uv reads no pip configuration, so pass it on.
    folders = os.environ.get("PIP_FIND_LINKS", "")
    if not folders:
        configured = subprocess.run(
            [sys.executable, "-m", "pip", "config", "get", "global.find-links"], capture_output=True, text=True
        )
        folders = configured.stdout if configured.returncode == 0 else ""
    return [f"--find-links={folder}" for folder in folders.split()]


# How often a long install says what it is doing; silence for minutes reads as a hang.
PROGRESS_SECONDS = 15


def run_with_progress(command: list, output, log_file: Path, name: str) -> int:
    """Run ``command`` with its output going to ``output``; every PROGRESS_SECONDS, print the time
    so far and what pip last said it was doing."""
    started = time.monotonic()
    process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)
    while True:
        try:
            return process.wait(timeout=PROGRESS_SECONDS)
        except subprocess.TimeoutExpired:
            log(f"{name}:   {time.monotonic() - started:.0f}s: {last_pip_action(log_file)}")


def last_pip_action(log_file: Path) -> str:
    actions = ("Collecting", "Downloading", "Installing", "Building", "Using cached", "Obtaining")
    actions += ("Resolved", "Prepared", "Installed", "Uninstalled", "Audited")  # uv's words
    lines = log_file.read_text(errors="replace").splitlines()
    action = next((line.strip() for line in reversed(lines) if line.strip().startswith(actions)), "starting pip")
    return action if len(action) <= 90 else action[:87] + "..."


# Checks of the whole repository, run once on the newest stack before the tests.
CHECKS = {
    "lint (ruff check)": ["-m", "ruff", "check", "."],
    "format (ruff format --check)": ["-m", "ruff", "format", "--check", "."],
    "types (mypy, configured in pyproject.toml)": ["-m", "mypy"],
    "docs site (mkdocs build --strict)": [
        "-m",
        "mkdocs",
        "build",
        "--strict",
        "--site-dir",
        str(Path(tempfile.gettempdir()) / "kwarg_guard-site"),
    ],
}


def build_stacks(names: list) -> dict:
    """Build (or reuse) the stacks side by side: pip mostly waits on downloads and the disk."""
    with ThreadPoolExecutor(max_workers=len(names)) as pool:
        return {name: str(python_of(env)) for name, env in zip(names, pool.map(ensure_stack, names), strict=True)}


def run_logged(command: list, log_file: Path, environment: dict) -> int:
    with log_file.open("w") as output:
        return subprocess.run(command, cwd=ROOT, env=environment, stdout=output, stderr=subprocess.STDOUT).returncode


def run_checks(python: str) -> list:
    failed = []
    # NO_MKDOCS_2_WARNING: mkdocs-material's notice about its own future, printed on every build.
    environment = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    for index, (title, arguments) in enumerate(CHECKS.items()):
        log_file = LOGS / f"check-{index}.log"
        code = run_logged([python, *arguments], log_file, environment)
        show(f"{title}: {'passed' if code == 0 else f'FAILED (exit {code})'}", log_file)
        if code != 0:
            failed.append(title)
    return failed


def run_pytest(name: str, pythons: dict, pytest_args: list) -> tuple:
    junit, log_file = LOGS / f"junit-{name}.xml", LOGS / f"pytest-{name}.log"
    junit.unlink(missing_ok=True)
    environment = {
        **os.environ,
        "KWARG_GUARD_STACK": name,
        "KWARG_GUARD_STACK_PYTHONS": json.dumps(pythons),
        # The stacks' suites run side by side on the same cores: one thread each, not a pool each
        # fighting the others (torch's default is a thread per core).
        "OMP_NUM_THREADS": "1",
    }
    command = [pythons[name], "-m", "pytest", f"--junitxml={junit}", *STACKS[name][2], *pytest_args]
    code = run_logged(command, log_file, environment)
    counts = junit_counts(junit)
    show(f"pytest on the {name} stack: exit {code}, {counts['passed']} passed, {counts['failed']} failed", log_file)
    return code, counts


def show(title: str, log_file: Path) -> None:
    """Print a finished job's whole output at once, so jobs that ran side by side stay readable."""
    with PRINTING:
        print(f"\n===== {title} (log: {log_file.relative_to(ROOT)})", flush=True)
        sys.stdout.write(log_file.read_text(errors="replace"))
        sys.stdout.flush()


def run_tests(stacks: list, pytest_args: list) -> int:
    # The two transformers stacks are built first: some tests compare the two ports across them (a
    # checkpoint written on one stack, converted, and loaded on the other). The -audio stacks'
    # minutes of CUDA wheels build while those tests run; each audio suite starts when its stack is ready.
    pythons = build_stacks(list(CROSS_STACKS))
    LOGS.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    log(f"checks and pytest on {', '.join(stacks)}, side by side; each job's output follows when it ends")

    def build_and_test(name: str) -> tuple:
        return run_pytest(name, {**pythons, name: str(python_of(ensure_stack(name)))}, pytest_args)

    with ThreadPoolExecutor(max_workers=len(stacks) + 1) as pool:
        checks = pool.submit(run_checks, pythons["5"])
        runs = {name: pool.submit(build_and_test, name) for name in stacks}
        failed_checks = checks.result()
        results = {name: run.result() for name, run in runs.items()}
    totals = {key: sum(counts[key] for _, counts in results.values()) for key in ("passed", "failed", "skipped")}
    failed_stacks = [
        f"{name} (pytest exit {code}, {counts['passed']} passed)"
        for name, (code, counts) in results.items()
        if code != 0 or counts["passed"] == 0
    ]
    print()
    for title in failed_checks:
        log(f"FAILED: {title}")
    for name in failed_stacks:
        log(f"FAILED on the {name} stack")
    log(f"checks and tests took {time.monotonic() - started:.0f}s")
    print(f"total: {totals['passed']} passed, {totals['failed']} failed, {totals['skipped']} skipped")
    return 1 if failed_stacks or failed_checks else 0


def junit_counts(path: Path) -> dict:
    if not path.exists():
        return {"passed": 0, "failed": 0, "skipped": 0}
    root = ET.parse(path).getroot()
    suites = [root] if root.tag == "testsuite" else list(root)
    tests = sum(int(s.get("tests", 0)) for s in suites)
    failed = sum(int(s.get("failures", 0)) + int(s.get("errors", 0)) for s in suites)
    skipped = sum(int(s.get("skipped", 0)) for s in suites)
    return {"passed": tests - failed - skipped, "failed": failed, "skipped": skipped}


def run_demo(stack: str, recipe_args: list, audio: bool = False) -> int:
    # The 4.46 stack runs the legacy port (boson_multimodal), the 5 stack the native one; --audio
    # runs the same port on its -audio stack, from real WAV files to generated.wav.
    if audio:
        stack, recipe_args = AUDIO_STACK[stack], ["--demo_audio", "true", *recipe_args]
    env = ensure_stack(stack)
    if "--output_dir" not in recipe_args and not any(a.startswith("--output_dir=") for a in recipe_args):
        recipe_args = [*recipe_args, "--output_dir", str(ROOT / "demo-output")]
    command = [str(python_of(env)), "-m", "kwarg_guard.recipes.higgs_audio", "--demo", *recipe_args]
    log(" ".join(command))
    return subprocess.run(command, cwd=ROOT).returncode


def run_gpu_check(arguments: list) -> int:
    # No stack here: a GPU machine has its own torch with CUDA, and often no network to build one.
    # The checked-out package is put on the path; --wheels DIR adds wheels carried to the machine
    # (the pinned transformers and peft, say), installed into a scratch folder ahead of the rest.
    parser = argparse.ArgumentParser(prog="envs/run.py gpu-check", add_help=False)
    parser.add_argument("--wheels", type=Path)
    known, rest = parser.parse_known_args(arguments)
    paths = [str(ROOT)]
    if known.wheels is not None:
        wheels = sorted(known.wheels.glob("*.whl"))
        if not wheels:
            raise SystemExit(
                f"[envs/run.py] gpu-check: no .whl files in {known.wheels}; give the folder pip download wrote"
            )
        target = Path(tempfile.mkdtemp(prefix="gpu-check-wheels-"))
        pip = [sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-deps", "--no-compile", "--target"]
        subprocess.run([*pip, str(target), *map(str, wheels)], check=True)
        paths.insert(0, str(target))
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join([*paths, os.environ.get("PYTHONPATH", "")])}
    command = [sys.executable, "-m", "kwarg_guard.recipes.higgs_audio.gpu_check", *rest]
    return subprocess.run(command, cwd=ROOT, env=environment).returncode


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("job", choices=("demo", "test", "gpu-check"))
    parser.add_argument(
        "--stack",
        choices=sorted(STACKS),
        action="append",
        help="test: only this stack (repeatable); demo: the stack to run it on (default 4.46)",
    )
    args, rest = parser.parse_known_args(argv)
    if args.job == "gpu-check":
        return run_gpu_check(rest)
    if args.job == "demo":
        if args.stack and len(args.stack) > 1:
            parser.error("the demo runs on one stack: --stack 4.46 (legacy port) or --stack 5 (native port)")
        audio = "--audio" in rest
        rest = [argument for argument in rest if argument != "--audio"]
        stack = args.stack[0] if args.stack else "4.46"
        if stack not in AUDIO_STACK:
            parser.error(f"the demo runs on --stack 4.46 or --stack 5 (--audio picks their audio stacks), not {stack}")
        return run_demo(stack, rest, audio)
    return run_tests(args.stack or list(STACKS), rest)


if __name__ == "__main__":
    sys.exit(main())
