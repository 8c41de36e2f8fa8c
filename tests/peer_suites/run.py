"""Run transformers' own model tests with every model guarded, and print what the guard changed.

    python tests/peer_suites/run.py --transformers-src DIR [--stack 5|4.46] [--families bert,t5]
                                    [--modes default,raise] [--timeout 300] [--jobs 2] [--out DIR]

DIR is a source checkout of transformers at the tag of the stack's pinned version (its
``tests/`` and root ``conftest.py`` are used; the library itself is the installed one). Each
family's ``tests/models/<family>/test_modeling_<family>.py`` runs once unguarded and once per
mode, every model the tests build guarded by ``guard_every(PreTrainedModel, ...)`` (see
guard_models.py); per-test outcomes are compared, and every test whose outcome changed is run
again in both configurations, so that a test that flips by chance is told apart from one the
guard breaks. The environment is ``.venvs/peer-<stack>``: the stack's pins plus
tests/peer_suites/requirements.txt (and requirements-<stack>.txt), built on first use.
Exit status: 0 when no outcome changed, 1 when one did, 2 on bad arguments.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
import venv
from pathlib import Path

from outcomes import Change, changed_outcomes, markdown_table, read_junit

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
STACK_PINS = {"5": ROOT / "envs" / "stack-5.txt", "4.46": ROOT / "envs" / "stack-4.46.txt"}
FAMILIES = {
    "5": "bert,distilbert,modernbert,gpt2,llama,t5,whisper,clip,llava,higgs_audio_v2",
    "4.46": "bert,distilbert,gpt2,llama,t5,whisper,clip,llava",
}
MODES = ("default", "warn", "drop", "raise")


def log(message: str) -> None:
    print(f"[peer_suites] {message}", flush=True)


def peer_env(stack: str) -> Path:
    """``.venvs/peer-<stack>`` with the stack's pins, the test-suite extras and this project (editable)."""
    env = ROOT / ".venvs" / f"peer-{stack}"
    python = env / "bin" / "python"
    requirements = [HERE / "requirements.txt", *HERE.glob(f"requirements-{stack}.txt")]
    fingerprint = hashlib.sha256(
        b"".join(path.read_bytes() for path in [STACK_PINS[stack], *requirements, ROOT / "pyproject.toml"])
    ).hexdigest()
    marker = env / "peer-stack.sha256"
    if marker.exists() and marker.read_text() == fingerprint and python.exists():
        return python
    log(f"building {env} from {', '.join(str(p.relative_to(ROOT)) for p in [STACK_PINS[stack], *requirements])}")
    venv.EnvBuilder(with_pip=True).create(env)  # kept when it exists: pip moves it to the pins
    pip = [str(python), "-m", "pip", "install", "--disable-pip-version-check", "-q"]
    for step in (
        [*pip, "-r", str(STACK_PINS[stack]), *(f"--requirement={path}" for path in requirements)],
        [*pip, "--no-deps", "-e", str(ROOT)],
    ):
        if subprocess.run(step).returncode != 0:
            raise SystemExit(f"[peer_suites] building {env} failed: {' '.join(step)}")
    marker.write_text(fingerprint)
    return python


def run_file(
    python: Path,
    src: Path,
    test_file: Path,
    mode: str,
    junit: Path,
    args: argparse.Namespace,
    node_ids: list[str] | None = None,
) -> Path:
    """One pytest run of ``test_file`` (or of ``node_ids`` in it) in ``mode`` ("off": unguarded)."""
    env = {
        **os.environ,
        "KWARG_GUARD_PEER_MODE": mode,
        "KWARG_GUARD_PEER_COUNT": str(junit.with_suffix(".count")),
        "PYTHONPATH": os.pathsep.join([str(HERE), str(src)]),
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "OMP_NUM_THREADS": "1",
    }
    for slow in ("RUN_SLOW", "RUN_CUSTOM_TOKENIZERS", "RUN_PT_TF_CROSS_TESTS"):
        env.pop(slow, None)
    targets = [f"{test_file}::{node}" for node in node_ids] if node_ids else [str(test_file)]
    command = [
        str(python),
        "-m",
        "pytest",
        *targets,
        "-p",
        "no:cacheprovider",
        "-p",
        "guard_models",
        f"--junitxml={junit}",
        f"--timeout={args.timeout}",
        "-q",
        "-o",
        "addopts=",
        "-o",
        "log_cli=false",
        "-W",
        "ignore::DeprecationWarning",
    ]
    if args.k:
        command += ["-k", args.k]
    with junit.with_suffix(".log").open("w") as output:
        subprocess.run(command, cwd=src, env=env, stdout=output, stderr=subprocess.STDOUT)
    return junit


def guarded_count(junit: Path) -> int:
    count = junit.with_suffix(".count")
    return int(count.read_text()) if count.exists() else 0


def run_family(python: Path, src: Path, family: str, modes: list[str], out: Path, args: argparse.Namespace) -> dict:
    test_file = src / "tests" / "models" / family / f"test_modeling_{family}.py"
    started = time.monotonic()
    baseline = out / f"{family}-off.xml"
    if not (args.reuse_baseline and baseline.exists()):
        run_file(python, src, test_file, "off", baseline, args)
    base = read_junit(baseline)
    result: dict = {
        "family": family,
        "tests": len(base),
        "passed": sum(o.outcome == "passed" for o in base.values()),
        "modes": {},
    }
    for mode in modes:
        junit = out / f"{family}-{mode}.xml"
        guarded = read_junit(run_file(python, src, test_file, mode, junit, args))
        changes = changed_outcomes(base, guarded)
        confirmed, flaky = recheck(python, src, test_file, mode, changes, out / f"{family}-{mode}-recheck", args)
        result["modes"][mode] = {
            "models_guarded": guarded_count(junit),
            "changed": [change.as_dict() for change in confirmed],
            "flaky": [change.as_dict() for change in flaky],
        }
    result["seconds"] = round(time.monotonic() - started)
    log(f"{family}: {result['tests']} tests in {result['seconds']} s")
    return result


def recheck(
    python: Path, src: Path, test_file: Path, mode: str, changes: list[Change], stem: Path, args: argparse.Namespace
) -> tuple[list[Change], list[Change]]:
    """Run the changed tests again, unguarded and guarded: a change that does not repeat is flaky."""
    node_ids = [change.node_id for change in changes if change.node_id]
    if not node_ids:
        return changes, []
    base = read_junit(run_file(python, src, test_file, "off", stem.with_name(stem.name + "-off.xml"), args, node_ids))
    guarded = read_junit(run_file(python, src, test_file, mode, stem.with_name(stem.name + ".xml"), args, node_ids))
    again = {change.test for change in changed_outcomes(base, guarded)}
    confirmed = [change for change in changes if change.test in again or not change.node_id]
    flaky = [change for change in changes if change.test not in again and change.node_id]
    return confirmed, flaky


def print_report(results: list[dict], modes: list[str], version: str, command: str) -> None:
    for result in results:
        line = f"{result['family']}: {result['tests']} tests, {result['passed']} pass unguarded"
        for mode in modes:
            entry = result["modes"][mode]
            line += f"; {mode}: {len(entry['changed'])} changed ({entry['models_guarded']} models guarded)"
            if entry["flaky"]:
                line += f", {len(entry['flaky'])} flaky"
        print(line)
        for mode in modes:
            for change in result["modes"][mode]["changed"]:
                print(f"    [{mode}] {change['test']}: {change['before']} -> {change['after']}  {change['message']}")
            for change in result["modes"][mode]["flaky"]:
                print(f"    [{mode}, did not repeat] {change['test']}: {change['before']} -> {change['after']}")
    print()
    print(markdown_table(results, modes, version, command))


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--transformers-src",
        type=Path,
        required=True,
        help="a transformers source checkout at the installed version's tag",
    )
    parser.add_argument("--stack", choices=sorted(STACK_PINS), default="5")
    parser.add_argument("--families", help="comma-separated tests/models/<family> names (default: the stack's list)")
    parser.add_argument(
        "--modes",
        default="default,raise",
        help=f"comma-separated, from {', '.join(MODES)} (default: the guard's default mode)",
    )
    parser.add_argument("--timeout", type=int, default=300, help="seconds per test (pytest-timeout)")
    parser.add_argument("--jobs", type=int, default=1, help="families run at once")
    parser.add_argument("-k", help="pytest -k expression applied to every run")
    parser.add_argument(
        "--reuse-baseline",
        action="store_true",
        help="keep the unguarded <family>-off.xml already in --out (when only the guard changed since)",
    )
    parser.add_argument("--out", type=Path, help="where the junit XML, logs and results.json go (default: a temp dir)")
    args = parser.parse_args(argv)
    args.mode_list = [mode.strip() for mode in args.modes.split(",") if mode.strip()]
    bad = [mode for mode in args.mode_list if mode not in MODES]
    if bad or not args.mode_list:
        parser.error(f"--modes takes {', '.join(MODES)}; got {args.modes!r}")
    args.family_list = [f.strip() for f in (args.families or FAMILIES[args.stack]).split(",") if f.strip()]
    src = args.transformers_src
    if not (src / "tests" / "test_modeling_common.py").is_file():
        parser.error(f"{src} has no tests/test_modeling_common.py; pass a transformers source checkout")
    missing = [f for f in args.family_list if not (src / "tests" / "models" / f / f"test_modeling_{f}.py").is_file()]
    if missing:
        parser.error(f"no tests/models/<family>/test_modeling_<family>.py in {src} for: {', '.join(missing)}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    python = peer_env(args.stack)
    version = subprocess.run(
        [str(python), "-c", "import transformers; print(transformers.__version__)"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    out = args.out or Path(tempfile.mkdtemp(prefix="peer-suites-"))
    out.mkdir(parents=True, exist_ok=True)
    log(
        f"transformers {version}, families {', '.join(args.family_list)}, modes {', '.join(args.mode_list)}; "
        f"junit XML and logs in {out}"
    )
    src = args.transformers_src.resolve()
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        results = list(pool.map(lambda f: run_family(python, src, f, args.mode_list, out, args), args.family_list))
    (out / "results.json").write_text(json.dumps({"transformers": version, "results": results}, indent=2))
    command = "python tests/peer_suites/run.py " + " ".join(sys.argv[1:] if argv is None else argv)
    print_report(results, args.mode_list, version, command)
    unguarded_models = [r["family"] for r in results for m in args.mode_list if r["modes"][m]["models_guarded"] == 0]
    if unguarded_models:
        log(f"no model was guarded in: {', '.join(sorted(set(unguarded_models)))}; see the .log files in {out}")
        return 1
    return 1 if any(r["modes"][m]["changed"] for r in results for m in args.mode_list) else 0


if __name__ == "__main__":
    sys.exit(main())
