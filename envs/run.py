"""Set up the pinned environments and run the project's two jobs.

    python envs/run.py demo [--stack 5] [recipe options]   # the Higgs Audio demo (4.46: legacy port, 5: native)
    python envs/run.py test [pytest options]               # the whole suite on both transformers stacks

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
import time
import venv
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ENVS = ROOT / "envs"
VENVS = ROOT / ".venvs"

# Each stack: its pin file, and what goes in with --no-deps after it (packages whose declared
# requirements are wrong for us; see the comment at the top of the pin file).
STACKS = {
    "4.46": ("stack-4.46.txt", ["boson-multimodal==0.1.1"]),
    "5": ("stack-5.txt", []),
}


def log(message: str) -> None:
    print(f"[envs/run.py] {message}", flush=True)


def python_of(env: Path) -> Path:
    return env / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def ensure_stack(name: str) -> Path:
    """Create or reuse .venvs/<name> with the pinned packages and this project installed."""
    pins, no_deps = STACKS[name]
    env = VENVS / f"stack-{name}"
    fingerprint = hashlib.sha256(
        (ENVS / pins).read_bytes() + "\n".join(no_deps).encode() + (ROOT / "pyproject.toml").read_bytes()
    ).hexdigest()
    marker = env / "kwarg_guard-stack.sha256"
    if marker.exists() and marker.read_text() == fingerprint and python_of(env).exists():
        return env
    started = time.monotonic()
    install_log = env / "install.log"
    log(f"building the {name} stack in {env} from envs/{pins}: a few minutes the first time, reused afterwards")
    log(f"pip's full output: {install_log}")
    venv.EnvBuilder(clear=True, with_pip=True).create(env)
    pip = [str(python_of(env)), "-m", "pip", "install", "--disable-pip-version-check"]
    steps = {
        "the pinned packages": [*pip, "-r", str(ENVS / pins)],
        "the packages installed without their declared requirements": [*pip, "--no-deps", *no_deps],
        "this project (editable)": [*pip, "--no-deps", "-e", str(ROOT)],
    }
    with install_log.open("w") as output:
        for what, step in steps.items():
            if step[-1] == "--no-deps":
                continue  # nothing to install without dependencies on this stack
            log(f"installing {what}")
            if run_with_progress(step, output, install_log) != 0:
                sys.stdout.write(install_log.read_text()[-6000:])
                raise SystemExit(
                    f"[envs/run.py] installing the {name} stack failed: {' '.join(step)} (full log: {install_log})"
                )
    marker.write_text(fingerprint)
    log(f"{name} stack ready in {time.monotonic() - started:.0f}s")
    return env


# How often a long install says what it is doing; silence for minutes reads as a hang.
PROGRESS_SECONDS = 15


def run_with_progress(command: list, output, log_file: Path) -> int:
    """Run ``command`` with its output going to ``output``; every PROGRESS_SECONDS, print the time
    so far and what pip last said it was doing."""
    started = time.monotonic()
    process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)
    while True:
        try:
            return process.wait(timeout=PROGRESS_SECONDS)
        except subprocess.TimeoutExpired:
            log(f"  {time.monotonic() - started:.0f}s: {last_pip_action(log_file)}")


def last_pip_action(log_file: Path) -> str:
    actions = ("Collecting", "Downloading", "Installing", "Building", "Using cached", "Obtaining")
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


def run_checks(env: Path) -> list:
    failed = []
    for title, arguments in CHECKS.items():
        log(title)
        # NO_MKDOCS_2_WARNING: mkdocs-material's notice about its own future, printed on every build.
        checked = subprocess.run(
            [str(python_of(env)), *arguments], cwd=ROOT, env={**os.environ, "NO_MKDOCS_2_WARNING": "1"}
        )
        if checked.returncode != 0:
            failed.append(title)
    return failed


def run_tests(stacks: list, pytest_args: list) -> int:
    totals = {"passed": 0, "failed": 0, "skipped": 0}
    failed_stacks = []
    # Every stack is built first: some tests compare the two ports across them (a checkpoint
    # written on one stack, converted, and loaded on the other).
    pythons = {name: str(python_of(ensure_stack(name))) for name in STACKS}
    failed_checks = run_checks(ensure_stack("5"))
    for name in stacks:
        env = ensure_stack(name)
        with tempfile.TemporaryDirectory() as tmp:
            junit = Path(tmp) / "junit.xml"
            log(f"pytest on the transformers {name} stack")
            code = subprocess.run(
                [str(python_of(env)), "-m", "pytest", f"--junitxml={junit}", *pytest_args],
                cwd=ROOT,
                env={**os.environ, "KWARG_GUARD_STACK": name, "KWARG_GUARD_STACK_PYTHONS": json.dumps(pythons)},
            ).returncode
            counts = junit_counts(junit)
        for key in totals:
            totals[key] += counts[key]
        if code != 0 or counts["passed"] == 0:
            failed_stacks.append(f"{name} (pytest exit {code}, {counts['passed']} passed)")
    print()
    for title in failed_checks:
        log(f"FAILED: {title}")
    for name in failed_stacks:
        log(f"FAILED on the {name} stack")
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


def run_demo(stack: str, recipe_args: list) -> int:
    # The 4.46 stack runs the legacy port (boson_multimodal), the 5 stack the native one.
    env = ensure_stack(stack)
    if "--output_dir" not in recipe_args and not any(a.startswith("--output_dir=") for a in recipe_args):
        recipe_args = [*recipe_args, "--output_dir", str(ROOT / "demo-output")]
    command = [str(python_of(env)), "-m", "kwarg_guard.recipes.higgs_audio", "--demo", *recipe_args]
    log(" ".join(command))
    return subprocess.run(command, cwd=ROOT).returncode


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("job", choices=("demo", "test"))
    parser.add_argument(
        "--stack",
        choices=sorted(STACKS),
        action="append",
        help="test: only this stack (repeatable); demo: the stack to run it on (default 4.46)",
    )
    args, rest = parser.parse_known_args(argv)
    if args.job == "demo":
        if args.stack and len(args.stack) > 1:
            parser.error("the demo runs on one stack: --stack 4.46 (legacy port) or --stack 5 (native port)")
        return run_demo(args.stack[0] if args.stack else "4.46", rest)
    return run_tests(args.stack or list(STACKS), rest)


if __name__ == "__main__":
    sys.exit(main())
