"""envs/run.py while it builds an environment: minutes of pip, shown as progress, with the log's path."""

import importlib.util
import sys
import threading

from tests.helpers import ROOT


def _load_run():
    spec = importlib.util.spec_from_file_location("envs_run", ROOT / "envs" / "run.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_long_install_says_what_pip_is_doing(tmp_path, capsys, monkeypatch):
    run = _load_run()
    monkeypatch.setattr(run, "PROGRESS_SECONDS", 0.2)
    log = tmp_path / "install.log"
    pip_like = (
        "import sys, time; print('Collecting torch==2.13.0', flush=True); time.sleep(0.7); "
        "print('Installing collected packages: torch', flush=True); time.sleep(0.7)"
    )
    with log.open("w") as output:
        code = run.run_with_progress([sys.executable, "-c", pip_like], output, log, "5-audio")
    said = capsys.readouterr().out.splitlines()
    assert code == 0
    assert any(line.endswith("s: Collecting torch==2.13.0") for line in said), said
    assert any(line.endswith("s: Installing collected packages: torch") for line in said), said
    assert all(line.startswith("[envs/run.py] 5-audio:   ") for line in said)  # stacks build side by side


def test_the_exit_code_of_the_install_is_passed_on(tmp_path):
    run = _load_run()
    log = tmp_path / "install.log"
    with log.open("w") as output:
        assert run.run_with_progress([sys.executable, "-c", "raise SystemExit(3)"], output, log, "5") == 3


def test_the_progress_line_is_pips_last_action_cut_to_fit(tmp_path):
    run = _load_run()
    log = tmp_path / "install.log"
    log.write_text("")
    assert run.last_pip_action(log) == "starting pip"
    log.write_text("Collecting a\n  Downloading " + "x" * 200 + "\n     |####| 3 MB\n")
    action = run.last_pip_action(log)
    assert action.startswith("Downloading xxx") and action.endswith("...") and len(action) <= 90


def test_jobs_run_side_by_side_print_their_output_in_one_piece_each(tmp_path, capsys, monkeypatch):
    run = _load_run()
    monkeypatch.setattr(run, "ROOT", tmp_path)
    logs = []
    for name in ("a", "b"):
        logs.append(tmp_path / f"{name}.log")
        logs[-1].write_text("".join(f"{name} line {i}\n" for i in range(2000)))
    threads = [threading.Thread(target=run.show, args=(f"job {log.stem}", log)) for log in logs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    lines = [line for line in capsys.readouterr().out.splitlines() if line]
    blocks = [line[0] for line in lines if not line.startswith("=====")]
    assert blocks in (["a"] * 2000 + ["b"] * 2000, ["b"] * 2000 + ["a"] * 2000)
    assert sum(line.startswith("===== job ") for line in lines) == 2
