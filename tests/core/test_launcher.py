"""``kwarg-guard run``: unmodified training scripts fail plainly, and train under the launcher,
in every Python process the command starts."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from kwarg_guard._run_settings import SITE_DIRECTORY
from tests.helpers import HAS_BOSON, ROOT, TRANSFORMERS_MAJOR, distribution, needs_boson, torchrun

SCRIPTS = ROOT / "tests" / "launched"
BIN = Path(sys.executable).parent
LAUNCHER = [sys.executable, "-m", "kwarg_guard"]


def run(command, timeout=300, **kwargs):
    return subprocess.run([str(part) for part in command], capture_output=True, text=True, timeout=timeout, **kwargs)


def reports(stderr: str) -> list[str]:
    """Each process's report, as printed at its exit."""
    return ["kwarg-guard report for" + part for part in stderr.split("kwarg-guard report for")[1:]]


class TestCommandLine:
    @pytest.mark.parametrize("args", [["list"], ["--list"]])
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
            (
                ["run", "--preset", "peft_headless", "python", "x.py"],
                "put the command after --, e.g. kwarg-guard run --preset peft_headless -- python x.py",
            ),
            (["run", "--bogus", "--", "python"], "unrecognized option --bogus (see kwarg-guard run --help)"),
            (["frobnicate"], "invalid choice"),
            (["list", "extra"], "kwarg-guard list takes no arguments (got: extra)"),
            (
                ["run", "--preset", "higgs-audio", "--", "python", "-c", "1"],
                "unknown preset 'higgs-audio' (did you mean 'higgs_audio'?)",
            ),
        ],
        ids=[
            "unknown-preset",
            "cannot-start",
            "no-command",
            "no-separator",
            "unknown-option",
            "unknown-action",
            "list-arguments",
            "hyphenated-preset",
        ],
    )
    def test_user_errors_are_one_line_and_exit_2(self, args, message):
        completed = run([*LAUNCHER, *args])
        assert completed.returncode == 2
        assert completed.stderr.count("\n") == 1 and completed.stderr.startswith("kwarg-guard: ")
        assert message in completed.stderr

    def test_list_says_nothing_of_run(self):
        completed = run([*LAUNCHER, "list", "extra"])
        assert completed.returncode == 2 and "run" not in completed.stderr

    def test_run_has_its_own_help(self):
        completed = run([*LAUNCHER, "run", "--help"])
        assert completed.returncode == 0
        lines = completed.stdout.splitlines()
        assert lines[0] == "usage: kwarg-guard run [-h] [--preset NAME] [--report] -- COMMAND [ARG ...]"
        assert "exit code is passed through" in " ".join(completed.stdout.split())
        # Each example whole on its line, never wrapped mid-command.
        examples = [line.strip() for line in lines if line.strip().startswith("kwarg-guard run ")]
        assert examples and all(" -- " in line and line.endswith(("train.py", "1e-4")) for line in examples)

    def test_list_has_its_own_help(self):
        completed = run([*LAUNCHER, "list", "--help"])
        assert completed.returncode == 0
        assert completed.stdout.splitlines()[0] == "usage: kwarg-guard list [-h]"
        assert "--preset" not in completed.stdout

    def test_the_top_level_help_names_both_commands(self):
        completed = run([*LAUNCHER, "--help"])
        assert completed.returncode == 0
        assert completed.stdout.splitlines()[0].startswith("usage: kwarg-guard [-h]")
        assert "    run  " in completed.stdout and "    list  " in completed.stdout

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


class UnmodifiedScript:
    """A training script run as its user would, with no line changed: it fails plainly alone, and
    trains under the launcher with the preset, in one process and in two torchrun ranks."""

    script: Path
    preset: str
    forward: str  # the forward PEFT passes labels= to
    dropped: str  # how the report shows that drop
    passed_by: tuple = ()  # what the report says passed it

    def test_fails_plainly_without_the_launcher(self, tmp_path):
        completed = run([sys.executable, self.script, tmp_path])
        assert completed.returncode != 0
        assert f"TypeError: {self.forward}() got an unexpected keyword argument 'labels'" in completed.stderr

    def test_trains_under_the_launcher(self, tmp_path):
        completed = run(
            [*LAUNCHER, "run", "--preset", self.preset, "--report", "--", sys.executable, self.script, tmp_path]
        )
        assert completed.returncode == 0, completed.stderr[-3000:]
        assert "trained 4 steps" in completed.stdout
        (report,) = reports(completed.stderr)
        assert f"{self.forward}  labels   {self.dropped}  4" in report
        assert all(part in report for part in self.passed_by)

    def test_trains_under_a_two_process_torchrun(self, tmp_path):
        completed = run([*LAUNCHER, "run", "--preset", self.preset, "--report", "--", *torchrun(self.script, tmp_path)])
        assert completed.returncode == 0, completed.stderr[-3000:]
        assert "trained 4 steps" in completed.stdout
        ranks = [r for r in reports(completed.stderr) if ", rank " in r.splitlines()[0]]
        assert sorted(r.splitlines()[0].rsplit("rank ", 1)[1] for r in ranks) == ["0):", "1):"]
        assert all(f"{self.forward}  labels   {self.dropped}" in r for r in ranks)


@needs_boson
class TestSeedScenario(UnmodifiedScript):
    """PEFT CAUSAL_LM around a tiny HiggsAudioModel under the stock Trainer."""

    script = SCRIPTS / "seed_higgs_audio.py"
    preset = "higgs_audio"
    forward = "HiggsAudioModel.forward"
    dropped = "dropped (None)"
    passed_by = ("peft/peft_model.py", "PeftModelForCausalLM.forward")


class TestHeadlessModel(UnmodifiedScript):
    """PEFT CAUSAL_LM around a model with no labels parameter, under peft_headless."""

    script = SCRIPTS / "headless_peft.py"
    preset = "peft_headless"
    forward = "TinyLM.forward"
    dropped = "dropped"

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
        assert completed.stdout.strip() == "worker saw: peft_headless on BaseTuner"

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
        program = "import peft.tuners.tuners_utils; print('still ran')"
        # The launcher's own kwarg_guard is the real one; the program's (from its working
        # directory, first on its path) is the broken one.
        completed = run(
            [BIN / "kwarg-guard", "run", "--preset", "peft_headless", "--", sys.executable, "-c", program], cwd=tmp_path
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


class TestStartUpCost:
    """A process pays for a preset only once it imports what the preset guards."""

    probe = "import sys; print('torch' in sys.modules, 'transformers' in sys.modules, 'kwarg_guard' in sys.modules)"

    @pytest.mark.parametrize("preset", ["higgs_audio", "higgs_audio_v2", "peft_headless"])
    def test_a_process_that_never_imports_the_library_loads_neither_torch_nor_kwarg_guard(self, preset):
        completed = run([*LAUNCHER, "run", "--preset", preset, "--", sys.executable, "-c", self.probe])
        assert completed.returncode == 0, completed.stderr
        assert completed.stdout.strip() == "False False False"

    def test_the_preset_applies_within_the_programs_import_of_the_library(self):
        program = textwrap.dedent("""
            import sys
            assert "kwarg_guard" not in sys.modules
            from peft.tuners.tuners_utils import BaseTuner
            installation = sys.modules["kwarg_guard"].installed()["peft_headless"]
            print(installation.guarded is BaseTuner, BaseTuner.__init__.__code__.co_filename.endswith("_install.py"))
        """)
        completed = run([*LAUNCHER, "run", "--preset", "peft_headless", "--", sys.executable, "-c", program])
        assert completed.returncode == 0, completed.stderr
        assert completed.stdout.strip() == "True True"

    def test_a_plugin_preset_is_not_loaded_until_its_library_is_imported(self, tmp_path):
        distribution(
            tmp_path,
            "acme-presets",
            {"acme": "acme_presets:ACME"},
            {
                "acme_presets": """
                    from kwarg_guard.presets import Preset
                    ACME = Preset(name='acme', description='acme', remap={'labels': 'label_ids'}, target='acme_models.Net')
                """,
                "acme_models": """
                    import torch
                    class Net(torch.nn.Module):
                        def forward(self, x, label_ids=None):
                            return label_ids
                """,
            },
        )
        program = textwrap.dedent("""
            import sys
            print("acme_presets" in sys.modules, "torch" in sys.modules)
            import acme_models
            print(acme_models.Net()(1, labels=5))
        """)
        completed = run(
            [*LAUNCHER, "run", "--preset", "acme", "--", sys.executable, "-c", program],
            env={**os.environ, "PYTHONPATH": str(tmp_path)},
        )
        assert completed.returncode == 0, completed.stderr
        assert completed.stdout.split() == ["False", "False", "5"]

    def test_presets_named_without_their_modules_are_installed_at_start_up(self):
        # KWARG_GUARD_PRESETS set by hand, as a launcher before the trigger modules did.
        environment = {
            **os.environ,
            "KWARG_GUARD_PRESETS": "peft_headless",
            "PYTHONPATH": SITE_DIRECTORY,
        }
        completed = run(
            [sys.executable, "-c", "import sys; print(sorted(sys.modules['kwarg_guard'].installed()))"], env=environment
        )
        assert completed.returncode == 0 and completed.stdout.strip() == "['peft_headless']", completed.stderr


class TestTheCommandItselfStartsWithoutTorch:
    """``kwarg-guard --help`` and ``list`` read presets only: neither loads torch."""

    @pytest.mark.parametrize("arguments", [["--help"], ["list"], ["run", "--help"]])
    def test_the_command_does_not_import_torch(self, arguments):
        program = textwrap.dedent(f"""
            import sys
            from kwarg_guard._launcher import main
            try:
                code = main({arguments!r})
            except SystemExit as exit:
                code = exit.code
            print(code, "torch" in sys.modules)
        """)
        completed = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=120)
        assert completed.returncode == 0, completed.stderr
        assert completed.stdout.strip().splitlines()[-1] == "0 False"

    def test_importing_the_package_loads_torch_only_when_a_door_is_used(self):
        program = (
            "import sys, kwarg_guard; before = 'torch' in sys.modules; kwarg_guard.guard; "
            "print(before, 'torch' in sys.modules)"
        )
        completed = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=120)
        assert completed.stdout.strip() == "False True", completed.stderr


class TestPresetThatCannotApply:
    probe = "import kwarg_guard; print(sorted(kwarg_guard.installed()))"

    @pytest.mark.skipif(HAS_BOSON, reason="boson_multimodal is installed: higgs_audio applies on this stack")
    def test_higgs_audio_without_boson_says_so_once_and_names_higgs_audio_v2(self):
        completed = run(
            [*LAUNCHER, "run", "--preset", "higgs_audio", "--report", "--", sys.executable, "-c", self.probe]
        )
        assert completed.returncode == 0
        said = [line for line in completed.stderr.splitlines() if "can never apply" in line]
        assert said == [
            (
                "kwarg-guard: preset 'higgs_audio' can never apply in this environment: it guards HiggsAudioModel, "
                "which needs boson_multimodal, and this environment lacks it; use --preset higgs_audio_v2 instead, "
                "which guards HiggsAudioV2ForConditionalGeneration"
            )
        ]
        (report,) = reports(completed.stderr)
        assert (
            "preset 'higgs_audio' guarded nothing: this process never imported "
            "boson_multimodal.model.higgs_audio.modeling_higgs_audio" in report
        )

    @pytest.mark.skipif(TRANSFORMERS_MAJOR >= 5, reason="transformers 5 has higgs_audio_v2's model")
    def test_higgs_audio_v2_on_transformers_4_names_higgs_audio(self):
        completed = run([*LAUNCHER, "run", "--preset", "higgs_audio_v2", "--", sys.executable, "-c", "pass"])
        assert completed.returncode == 0
        assert completed.stderr.count("\n") == 1
        assert "preset 'higgs_audio_v2' can never apply in this environment" in completed.stderr
        if HAS_BOSON:
            assert completed.stderr.rstrip().endswith("use --preset higgs_audio instead, which guards HiggsAudioModel")

    def test_a_preset_that_fits_says_nothing(self):
        fitting = "higgs_audio" if HAS_BOSON else "higgs_audio_v2"
        completed = run([*LAUNCHER, "run", "--preset", fitting, "--", sys.executable, "-c", "pass"])
        assert completed.returncode == 0 and completed.stderr == ""


class TestReport:
    def test_a_programs_own_guards_are_reported_with_no_preset_named(self):
        program = "import kwarg_guard, torch; kwarg_guard.guard(torch.nn.Linear(2, 2))(torch.ones(2), z=None)"
        completed = run([*LAUNCHER, "run", "--report", "--", sys.executable, "-c", program])
        assert completed.returncode == 0, completed.stderr
        (report,) = reports(completed.stderr)
        assert "Linear.forward  z        dropped  1      None" in report

    def test_a_process_under_bash_c_is_named_by_its_command_line(self):
        inner = f"{sys.executable} -c 'import kwarg_guard'"
        completed = run([*LAUNCHER, "run", "--preset", "peft_headless", "--report", "--", "bash", "-c", inner])
        assert completed.returncode == 0, completed.stderr
        (report,) = reports(completed.stderr)
        heading = report.splitlines()[0]
        assert heading.startswith(f'kwarg-guard report for {Path(sys.executable).name} -c "import kwarg_guard" (pid ')

    def test_a_script_is_named_with_its_arguments(self, tmp_path):
        script = tmp_path / "train.py"
        script.write_text("import sys\n")
        completed = run(
            [*LAUNCHER, "run", "--preset", "peft_headless", "--report", "--", sys.executable, script, "--lr", "1"]
        )
        (report,) = reports(completed.stderr)
        assert report.startswith(f"kwarg-guard report for {Path(sys.executable).name} {script} --lr 1 (pid ")
        assert (
            "nothing guarded: this process never imported what its presets guard (peft.tuners.tuners_utils)" in report
        )
