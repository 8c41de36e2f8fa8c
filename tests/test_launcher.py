"""``kwarg-guard run``: unmodified training scripts fail plainly, and train under the launcher,
in every Python process the command starts."""

import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import needs_boson

HERE = Path(__file__).resolve().parent
SCRIPTS = HERE / "launched"
BIN = Path(sys.executable).parent
LAUNCHER = [sys.executable, "-m", "kwarg_guard"]


def run(command, timeout=300, **kwargs):
    return subprocess.run([str(part) for part in command], capture_output=True, text=True, timeout=timeout, **kwargs)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def torchrun(script, output):
    return [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        "2",
        "--master_addr",
        "127.0.0.1",
        "--master_port",
        free_port(),
        script,
        output,
    ]


def reports(stderr: str) -> list[str]:
    """Each process's report, as printed at its exit."""
    return ["kwarg-guard report for" + part for part in stderr.split("kwarg-guard report for")[1:]]


class TestCommandLine:
    @pytest.mark.parametrize("args", [["list"], ["--list"], ["run", "--list"]])
    def test_lists_the_presets_with_their_descriptions(self, args):
        completed = run([*LAUNCHER, *args])
        assert completed.returncode == 0
        lines = completed.stdout.splitlines()
        assert any(line.startswith("higgs_audio ") and "label_ids" in line for line in lines)
        assert any(line.startswith("peft_headless ") for line in lines)

    @pytest.mark.parametrize(
        "args, message",
        [
            (
                ["run", "--preset", "nope", "--", "python", "-c", "1"],
                "unknown preset 'nope'; known presets: higgs_audio",
            ),
            (["run", "--preset", "peft_headless", "--", "no-such-command-here"], "cannot run 'no-such-command-here'"),
            (["run", "--preset", "peft_headless"], "needs a command after --"),
            (["run", "--preset", "peft_headless", "python", "x.py"], "put the command after --"),
            (["frobnicate"], "invalid choice"),
        ],
        ids=["unknown-preset", "cannot-start", "no-command", "no-separator", "unknown-action"],
    )
    def test_user_errors_are_one_line_and_exit_2(self, args, message):
        completed = run([*LAUNCHER, *args])
        assert completed.returncode == 2
        assert completed.stderr.count("\n") == 1 and completed.stderr.startswith("kwarg-guard: ")
        assert message in completed.stderr

    def test_the_commands_exit_code_passes_through(self):
        completed = run(
            [*LAUNCHER, "run", "--preset", "peft_headless", "--", sys.executable, "-c", "raise SystemExit(7)"]
        )
        assert completed.returncode == 7

    def test_the_console_script_has_the_same_interface(self):
        completed = run(
            [
                BIN / "kwarg-guard",
                "run",
                "--preset",
                "peft_headless",
                "--",
                sys.executable,
                "-c",
                "import kwarg_guard; print(sorted(kwarg_guard.installed()))",
            ]
        )
        assert completed.returncode == 0 and completed.stdout.strip() == "['peft_headless']"


@needs_boson
class TestSeedScenario:
    """PEFT CAUSAL_LM around a tiny HiggsAudioModel under the stock Trainer, script unmodified."""

    script = SCRIPTS / "seed_higgs_audio.py"

    def test_fails_plainly_without_the_launcher(self, tmp_path):
        completed = run([sys.executable, self.script, tmp_path])
        assert completed.returncode != 0
        assert "TypeError: HiggsAudioModel.forward() got an unexpected keyword argument 'labels'" in completed.stderr

    def test_trains_under_the_launcher(self, tmp_path):
        completed = run(
            [*LAUNCHER, "run", "--preset", "higgs_audio", "--report", "--", sys.executable, self.script, tmp_path]
        )
        assert completed.returncode == 0, completed.stderr[-3000:]
        assert "trained 4 steps" in completed.stdout
        (report,) = reports(completed.stderr)
        assert "HiggsAudioModel.forward  labels   dropped (None)  4" in report
        assert "peft/peft_model.py" in report and "PeftModelForCausalLM.forward" in report

    def test_trains_under_a_two_process_torchrun(self, tmp_path):
        completed = run(
            [*LAUNCHER, "run", "--preset", "higgs_audio", "--report", "--", *torchrun(self.script, tmp_path)]
        )
        assert completed.returncode == 0, completed.stderr[-3000:]
        assert "trained 4 steps" in completed.stdout
        ranks = [r for r in reports(completed.stderr) if ", rank " in r.splitlines()[0]]
        assert sorted(r.splitlines()[0].rsplit("rank ", 1)[1] for r in ranks) == ["0):", "1):"]
        assert all("HiggsAudioModel.forward  labels   dropped (None)" in r for r in ranks)


class TestHeadlessModel:
    """PEFT CAUSAL_LM around a model with no labels parameter, under peft_headless."""

    script = SCRIPTS / "headless_peft.py"

    def test_fails_plainly_without_the_launcher(self, tmp_path):
        completed = run([sys.executable, self.script, tmp_path])
        assert completed.returncode != 0
        assert "TypeError: TinyLM.forward() got an unexpected keyword argument 'labels'" in completed.stderr

    def test_trains_under_the_launcher(self, tmp_path):
        completed = run(
            [*LAUNCHER, "run", "--preset", "peft_headless", "--report", "--", sys.executable, self.script, tmp_path]
        )
        assert completed.returncode == 0, completed.stderr[-3000:]
        assert "trained 4 steps" in completed.stdout
        (report,) = reports(completed.stderr)
        assert "TinyLM.forward  labels   dropped  4" in report

    def test_trains_under_a_two_process_torchrun(self, tmp_path):
        completed = run(
            [*LAUNCHER, "run", "--preset", "peft_headless", "--report", "--", *torchrun(self.script, tmp_path)]
        )
        assert completed.returncode == 0, completed.stderr[-3000:]
        ranks = [r for r in reports(completed.stderr) if ", rank " in r.splitlines()[0]]
        assert len(ranks) == 2 and all("TinyLM.forward  labels   dropped" in r for r in ranks)

    def test_trains_under_accelerate_launch(self, tmp_path):
        accelerate = [
            BIN / "accelerate",
            "launch",
            "--cpu",
            "--num_processes",
            "1",
            "--num_machines",
            "1",
            "--mixed_precision",
            "no",
            "--dynamo_backend",
            "no",
            self.script,
            tmp_path,
        ]
        completed = run(
            [*LAUNCHER, "run", "--preset", "peft_headless", "--report", "--", *accelerate],
            env={**os.environ, "HF_HOME": str(tmp_path / "hf")},
        )
        assert completed.returncode == 0, completed.stderr[-3000:]
        assert "trained 4 steps" in completed.stdout
        assert any("TinyLM.forward  labels   dropped  4" in r for r in reports(completed.stderr))


class TestEveryPythonProcess:
    def test_dataloader_workers_started_with_spawn(self):
        completed = run(
            [*LAUNCHER, "run", "--preset", "peft_headless", "--", sys.executable, SCRIPTS / "spawned_workers.py"]
        )
        assert completed.returncode == 0, completed.stderr[-3000:]
        assert completed.stdout.strip() == "worker saw: peft_headless"

    def test_a_users_own_sitecustomize_still_runs(self, tmp_path):
        (tmp_path / "sitecustomize.py").write_text("import os\nos.environ['USER_SITECUSTOMIZE'] = 'ran'\n")
        check = "import os, kwarg_guard; print(os.environ.get('USER_SITECUSTOMIZE'), sorted(kwarg_guard.installed()))"
        completed = run(
            [*LAUNCHER, "run", "--preset", "peft_headless", "--", sys.executable, "-c", check],
            env={**os.environ, "PYTHONPATH": str(tmp_path)},
        )
        assert completed.returncode == 0, completed.stderr
        assert completed.stdout.strip() == "ran ['peft_headless']"

    def test_a_python_that_cannot_import_kwarg_guard_runs_unguarded(self, tmp_path):
        broken = tmp_path / "kwarg_guard"
        broken.mkdir()
        (broken / "__init__.py").write_text("raise ImportError('not in this environment')\n")
        completed = run(
            [*LAUNCHER, "run", "--preset", "peft_headless", "--", sys.executable, "-c", "print('still ran')"],
            env={**os.environ, "PYTHONPATH": str(tmp_path)},
        )
        assert completed.returncode == 0 and completed.stdout.strip() == "still ran"
        assert "cannot import kwarg_guard (not in this environment); it runs unguarded" in completed.stderr

    def test_nested_launchers_add_their_presets(self):
        inner = [
            *LAUNCHER,
            "run",
            "--preset",
            "higgs_audio",
            "--",
            sys.executable,
            "-c",
            "import kwarg_guard; print(sorted(kwarg_guard.installed()))",
        ]
        completed = run([*LAUNCHER, "run", "--preset", "peft_headless", "--", *inner])
        assert completed.stdout.strip() == "['higgs_audio', 'peft_headless']", completed.stderr


def test_presets_install_before_the_programs_own_code():
    program = textwrap.dedent("""
        import sys
        assert "kwarg_guard" in sys.modules, "the presets were not installed before this line"
        print(sorted(sys.modules["kwarg_guard"].installed()))
    """)
    completed = run([*LAUNCHER, "run", "--preset", "peft_headless", "--", sys.executable, "-c", program])
    assert completed.returncode == 0 and completed.stdout.strip() == "['peft_headless']", completed.stderr
