"""install(preset): guarding a library's class the moment its module is imported, uninstall(), and
the import-hook contract."""

import importlib
import logging
import subprocess
import sys
import textwrap

import pytest
import torch

from kwarg_guard import NotGuardedError, Preset, install, installed, register_preset, report, uninstall
from tests.helpers import Headless, Labeled, needs_boson, peft_causal_lm


class TestInstallClassObjects:
    def test_a_local_class_is_guarded_itself(self, x):
        class Local(Labeled):
            pass

        register_preset(
            Preset(name="test_local", description="t", remap={"labels": "label_ids"}, target=Local), replace=True
        )
        installation = install("test_local")
        try:
            assert installation.guarded is Local
            assert Local()(x, labels=5)[1] == 5
        finally:
            uninstall("test_local")
        with pytest.raises(TypeError, match="labels"):
            Local()(x, labels=5)

    def test_a_nested_class_is_guarded_itself(self, x):
        class Outer:
            class Inner(Labeled):
                pass

        register_preset(
            Preset(name="test_nested", description="t", remap={"labels": "label_ids"}, target=Outer.Inner), replace=True
        )
        install("test_nested")
        try:
            assert Outer.Inner()(x, labels=6)[1] == 6
        finally:
            uninstall("test_nested")


class TestInstall:
    def library(self, site, name):
        (site / f"{name}.py").write_text(
            textwrap.dedent("""
            import torch
            class LateNet(torch.nn.Module):
                def forward(self, x, label_ids=None):
                    return label_ids
        """)
        )
        register_preset(
            Preset(name=f"{name}_preset", description="t", remap={"labels": "label_ids"}, target=f"{name}.LateNet"),
            replace=True,
        )
        return f"{name}_preset"

    def test_guards_the_class_when_its_module_is_imported_later(self, site):
        preset = self.library(site, "late_lib_one")
        install(preset)
        try:
            assert "late_lib_one" not in sys.modules
            module = importlib.import_module("late_lib_one")
            assert module.LateNet()(1, labels=3) == 3
            assert installed()[preset].guarded is module.LateNet
        finally:
            uninstall(preset)
        with pytest.raises(TypeError, match="labels"):
            module.LateNet()(1, labels=3)

    def test_guards_at_once_when_the_module_is_already_imported(self, site):
        preset = self.library(site, "late_lib_two")
        module = importlib.import_module("late_lib_two")
        install(preset)
        assert install(preset) is installed()[preset]  # installing twice is a no-op
        assert module.LateNet()(1, labels=4) == 4
        uninstall(preset)
        assert "forward" in module.LateNet.__dict__ and module.LateNet.__dict__["forward"].__name__ == "forward"
        with pytest.raises(TypeError):
            module.LateNet()(1, labels=4)

    def test_uninstall_before_import_disarms_the_hook(self, site):
        preset = self.library(site, "late_lib_three")
        install(preset)
        uninstall(preset)
        module = importlib.import_module("late_lib_three")
        with pytest.raises(TypeError):
            module.LateNet()(1, labels=4)

    def test_uninstall_of_what_is_not_installed(self):
        with pytest.raises(NotGuardedError, match="not installed"):
            uninstall("higgs_audio")

    def test_a_target_install_cannot_reach_is_refused(self):
        register_preset(Preset(name="test_predicate", description="t", target=lambda module: True), replace=True)
        with pytest.raises(ValueError, match="install\\(\\) needs a preset whose target is a class"):
            install("test_predicate")

    def test_peft_headless_guards_each_model_as_peft_builds_it(self):

        ids = torch.randint(0, 16, (2, 3))
        before = peft_causal_lm(Headless())
        install("peft_headless")
        try:
            model = peft_causal_lm(Headless())
            assert torch.equal(model(input_ids=ids), model.get_base_model()(input_ids=ids))
            assert report(model).find("labels", "dropped").forward == "Headless.forward"
            with pytest.raises(TypeError, match="'labels'"):
                before(input_ids=ids)  # built before install: untouched
        finally:
            uninstall("peft_headless")
        assert "forward" not in vars(model.get_base_model())
        with pytest.raises(TypeError, match="'labels'"):
            peft_causal_lm(Headless())(input_ids=ids)


@needs_boson
def test_install_higgs_audio_before_importing_boson_fixes_peft_causal_lm():
    script = textwrap.dedent("""
        import sys, torch
        import kwarg_guard
        kwarg_guard.install("higgs_audio")
        assert "boson_multimodal.model.higgs_audio.modeling_higgs_audio" not in sys.modules
        from peft import LoraConfig, get_peft_model
        from kwarg_guard.recipes.higgs_audio.tiny import tiny_model
        model = get_peft_model(tiny_model(0), LoraConfig(task_type="CAUSAL_LM", target_modules=["q_proj"], r=2))
        ids = torch.randint(0, 200, (1, 6))
        out = model(input_ids=ids, attention_mask=torch.ones_like(ids), labels=ids)
        direct = model.get_base_model()(input_ids=ids, attention_mask=torch.ones_like(ids), label_ids=ids)
        assert out.expanded_labels is not None and torch.equal(out.expanded_labels, direct.expanded_labels)
        print("ok")
    """)
    completed = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0 and completed.stdout.strip().endswith("ok"), completed.stderr[-3000:]


class TestImportHookContract:
    def test_a_preset_that_does_not_fit_the_class_leaves_the_import_working(self, site, caplog):
        (site / "misfit_lib.py").write_text(
            textwrap.dedent("""
            import torch
            class Net(torch.nn.Module):
                def forward(self, x):
                    return x
        """)
        )
        register_preset(
            Preset(name="misfit", description="t", remap={"labels": "label_ids"}, target="misfit_lib.Net"),
            replace=True,
        )
        install("misfit")
        try:
            with caplog.at_level(logging.ERROR, logger="kwarg_guard"):
                module = importlib.import_module("misfit_lib")
            (record,) = [r for r in caplog.records if "misfit" in r.getMessage()]
            assert record.levelno == logging.ERROR
            assert "kwarg_guard.install('misfit'): misfit_lib.Net cannot take this preset" in record.getMessage()
            assert "does not accept 'label_ids'" in record.getMessage() and "it runs unguarded" in record.getMessage()
            assert installed()["misfit"].guarded is None
            assert "forward" in vars(module.Net) and vars(module.Net)["forward"].__qualname__ == "Net.forward"
        finally:
            uninstall("misfit")
