"""Presets as data, open to other packages: entry points, install() at import time, uninstall()."""

import importlib
import logging
import subprocess
import sys
import textwrap

import pytest
import torch
from conftest import HAS_BOSON, needs_boson

from kwarg_guard import (
    NotGuardedError,
    Preset,
    available_presets,
    get_preset,
    guard,
    install,
    installed,
    patched,
    preset_problems,
    register_preset,
    report,
    uninstall,
)
from kwarg_guard.presets import reload_entry_points


def distribution(site, name, entry_points, modules):
    """Lay out an installed distribution the way pip does: a dist-info folder and its modules."""
    info = site / f"{name.replace('-', '_')}-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(
        "[kwarg_guard.presets]\n" + "".join(f"{k} = {v}\n" for k, v in entry_points.items())
    )
    for module, source in modules.items():
        (site / f"{module}.py").write_text(textwrap.dedent(source))


@pytest.fixture
def site(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()
    yield tmp_path
    monkeypatch.undo()
    importlib.invalidate_caches()
    reload_entry_points()


class TestEntryPoints:
    def test_a_third_party_preset_is_discovered_and_applied(self, site, x):
        distribution(
            site,
            "acme-guard-presets",
            {"acme": "acme_presets:PRESETS"},
            {
                "acme_presets": """
            from kwarg_guard.presets import Preset
            PRESETS = [Preset(name="acme_labels", description="acme: labels to label_ids",
                              remap={"labels": "label_ids"}, target="Labeled")]
        """
            },
        )
        reload_entry_points()
        assert "acme_labels" in available_presets()
        from conftest import Labeled, Outer

        model = Outer(Labeled())
        with patched(model, preset="acme_labels"):
            assert model(x, labels=6)[1] == 6

    def test_broken_and_malformed_entry_points_are_named_and_skipped(self, site):
        distribution(
            site,
            "good-presets",
            {"good": "good_presets:make"},
            {
                "good_presets": """
            from kwarg_guard.presets import Preset
            def make():
                return Preset(name="good_one", description="fine", drop=["junk"])
        """
            },
        )
        distribution(
            site,
            "broken-presets",
            {
                "missing": "no_such_module:PRESET",
                "weird": "broken_presets:NOT_A_PRESET",
                "bad_remap": "broken_presets:CYCLE",
            },
            {
                "broken_presets": """
            from kwarg_guard.presets import Preset
            NOT_A_PRESET = {"name": "nope"}
            CYCLE = Preset(name="cycle", description="bad", remap={"a": "b", "b": "a"})
        """
            },
        )
        reload_entry_points()
        problems = preset_problems()
        assert any(p.startswith("broken-presets: entry point 'missing'") and "failed to load" in p for p in problems)
        assert any(
            p.startswith("broken-presets: entry point 'weird'") and "gave dict, not a kwarg_guard.presets.Preset" in p
            for p in problems
        )
        assert any(
            p.startswith("broken-presets: entry point 'bad_remap'") and "malformed preset 'cycle'" in p
            for p in problems
        )
        assert "good_one" in available_presets() and "higgs_audio" in available_presets()
        with pytest.raises(ValueError, match="unknown preset 'cycle'"):
            get_preset("cycle")

    def test_built_in_names_cannot_be_taken_over(self, site):
        distribution(
            site,
            "squatter",
            {"s": "squat:P"},
            {
                "squat": """
            from kwarg_guard.presets import Preset
            P = Preset(name="higgs_audio", description="not the real one")
        """
            },
        )
        reload_entry_points()
        assert get_preset("higgs_audio").description != "not the real one"
        assert any("already exists" in p for p in preset_problems())


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
        from conftest import Headless, peft_causal_lm

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


class TestPresetNames:
    @pytest.mark.parametrize("typed", ["higgs-audio", "Higgs_Audio", "higgs_audo"])
    def test_a_near_miss_gets_a_suggestion(self, typed):
        with pytest.raises(ValueError, match=rf"unknown preset '{typed}' \(did you mean 'higgs_audio'\?\); known"):
            get_preset(typed)

    def test_a_name_near_nothing_gets_none(self):
        with pytest.raises(ValueError, match=r"unknown preset 'zzz'; known presets: "):
            get_preset("zzz")


class TestAlternatives:
    def test_a_missing_requirement_names_the_alternative_that_is_installed(self):
        register_preset(Preset(name="here", description="t", target="json.JSONDecoder", requires="json"), replace=True)
        missing = register_preset(
            Preset(
                name="elsewhere",
                description="t",
                target="no_such_pkg.Model",
                requires="no_such_pkg",
                install_hint="pip install no-such-pkg",
                alternatives=["gone", "here"],
            ),
            replace=True,
        )
        message = missing.requirement_missing()
        assert message is not None and message.endswith("use preset='here'")
        assert "pip install" not in message
        assert missing.fitting_alternative() is get_preset("here")

    def test_without_a_fitting_alternative_it_says_how_to_install(self):
        missing = register_preset(
            Preset(
                name="elsewhere_alone",
                description="t",
                target="no_such_pkg.Model",
                requires="no_such_pkg",
                install_hint="pip install no-such-pkg",
                alternatives=["elsewhere_alone_too"],
            ),
            replace=True,
        )
        assert missing.fitting_alternative() is None
        assert missing.requirement_missing().endswith("is not installed. pip install no-such-pkg")

    @pytest.mark.skipif(HAS_BOSON, reason="boson_multimodal is installed: higgs_audio applies on this stack")
    def test_guard_with_higgs_audio_on_transformers_5_names_higgs_audio_v2(self):
        with pytest.raises(ImportError) as raised:
            guard(torch.nn.Sequential(torch.nn.Linear(2, 2)), preset="higgs_audio")
        assert str(raised.value).endswith(
            "needs the 'boson_multimodal' package, and it is not installed; this environment has what preset "
            "'higgs_audio_v2' guards: use preset='higgs_audio_v2'"
        )
        assert "transformers==4.46" not in str(raised.value)


def test_the_old_name_unused_unless_still_works_with_a_deprecation_warning():
    import pytest

    from kwarg_guard import Preset

    with pytest.warns(DeprecationWarning, match="ignored_without"):
        preset = Preset(name="old_style", description="d", unused_unless={"labels": "text_lm_head"})
    assert dict(preset.ignored_without) == {"labels": "text_lm_head"} == dict(preset.unused_unless)
    assert preset.rules.ignored_without == (("labels", "text_lm_head"),)
