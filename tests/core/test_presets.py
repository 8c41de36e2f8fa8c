"""Presets as data, open to other packages: the registry, entry points, names, and the alternative
that fits the installed stack."""

import pytest
import torch

from kwarg_guard import (
    Preset,
    available_presets,
    get_preset,
    guard,
    kwarg_guard,
    patched,
    preset_problems,
    register_preset,
)
from kwarg_guard.presets import reload_entry_points
from tests.helpers import HAS_BOSON, Labeled, Outer, distribution


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
        from tests.helpers import Labeled, Outer

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


class TestPresets:
    def test_unknown_preset_lists_the_known_ones(self, labeled):
        with pytest.raises(ValueError, match=r"unknown preset 'nope'; known presets: .*higgs_audio"):
            guard(labeled, preset="nope")

    def test_unknown_preset_on_every_door(self, labeled):
        with pytest.raises(ValueError, match="unknown preset"):
            patched(labeled, preset="nope")
        with pytest.raises(ValueError, match="unknown preset"):
            kwarg_guard(lambda x: x, preset="nope")

    def test_registry_refuses_a_silent_overwrite(self):
        with pytest.raises(ValueError, match="already registered"):
            register_preset(Preset(name="higgs_audio", description="clash"))
        assert get_preset("higgs_audio").description != "clash"

    def test_a_registered_preset_is_data_for_the_same_rewrite(self, x):
        register_preset(
            Preset(name="test_labels", description="t", remap={"labels": "label_ids"}, target=Labeled), replace=True
        )
        model = Outer(Labeled())
        with patched(model, preset="test_labels"):
            assert model(x, labels=4)[1] == 4
        assert "test_labels" in available_presets()

    def test_explicit_options_override_the_preset(self, x):
        register_preset(Preset(name="test_strict", description="t", on_unknown="raise", target=Labeled), replace=True)
        model = Outer(Labeled())
        with patched(model, preset="test_strict", on_unknown="drop"):
            model(x)
