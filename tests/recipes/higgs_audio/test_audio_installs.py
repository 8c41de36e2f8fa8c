"""The install blocks of docs/higgs-audio.md are the ones the tests run: each names extras of
pyproject.toml whose every requirement the backend's -audio stack pins (envs/stack-*-audio.txt, what
envs/run.py installs and the audio tests run on), and the --no-deps line is the stack's."""

from __future__ import annotations

import importlib.util
import re
import tomllib

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from kwarg_guard.recipes.higgs_audio.legacy.audio import LEGACY_TOKENIZER_MODULES, NO_DEPS_COMMAND
from kwarg_guard.recipes.higgs_audio.wav import MissingPackageError, require_packages
from tests.helpers import ROOT

EXTRAS = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
# The install section's two blocks, in order, and the stack each must match.
BLOCKS = {"legacy": "4.46-audio", "native": "5-audio"}


def _envs_run():
    spec = importlib.util.spec_from_file_location("envs_run", ROOT / "envs" / "run.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def install_blocks() -> dict[str, list[str]]:
    """backend -> the pip commands of its block in "## 1. Install", comments stripped."""
    text = (ROOT / "docs" / "higgs-audio.md").read_text()
    section = text[text.index("## 1. Install") : text.index("## 2.")]
    blocks = re.findall(r"```bash\n(.*?)```", section, re.S)
    assert len(blocks) == len(BLOCKS), f"expected one install block per backend, found {len(blocks)}"
    commands = [
        [line.split("#")[0].strip() for line in block.splitlines() if "pip install" in line] for block in blocks
    ]
    return dict(zip(BLOCKS, commands, strict=True))


def pins(stack: str) -> dict[str, str]:
    lines = (ROOT / "envs" / f"stack-{stack}.txt").read_text().splitlines()
    pairs = (line.split("==") for line in lines if line and not line.startswith("#"))
    return {canonicalize_name(name): version for name, version in pairs}


def extras_of(commands: list[str]) -> list[str]:
    named = [re.search(r"kwarg_guard\[([^\]]+)\]", command) for command in commands]
    return [extra for match in named if match for extra in match.group(1).split(",")]


@pytest.mark.parametrize("backend", list(BLOCKS))
def test_every_requirement_of_the_documented_extras_is_pinned_by_the_stack_that_runs_the_audio_tests(backend):
    commands = install_blocks()[backend]
    extras = extras_of(commands)
    assert extras and set(extras) <= set(EXTRAS), f"{backend}: unknown extras {set(extras) - set(EXTRAS)}"
    pinned = pins(BLOCKS[backend])
    for extra in extras:
        for requirement in map(Requirement, EXTRAS[extra]):
            name = canonicalize_name(requirement.name)
            assert name in pinned, f"[{extra}] needs {requirement}; envs/stack-{BLOCKS[backend]}.txt lacks it"
            assert pinned[name] in requirement.specifier, f"[{extra}] {requirement} vs pinned {pinned[name]}"


def test_the_no_deps_line_is_the_one_the_legacy_audio_stack_installs():
    no_deps = [command for command in install_blocks()["legacy"] if "--no-deps" in command]
    stack_no_deps = _envs_run().STACKS[BLOCKS["legacy"]][1]
    assert no_deps == [NO_DEPS_COMMAND] == ["pip install --no-deps " + " ".join(stack_no_deps)]
    assert not any("--no-deps" in command for command in install_blocks()["native"])


def test_torch_and_torchaudio_are_pinned_as_the_pair_that_installs():
    for extra in ("higgs-audio", "higgs-native-audio"):
        pinned = {Requirement(r).name: str(Requirement(r).specifier) for r in EXTRAS[extra]}
        assert pinned["torch"] == "==2.9.1" and pinned["torchaudio"] == "==2.9.1", extra
    for stack in BLOCKS.values():
        assert pins(stack)["torch"] == pins(stack)["torchaudio"] == "2.9.1"


def test_what_the_legacy_tokenizer_imports_comes_with_the_documented_install():
    documented = {canonicalize_name(r.split("==")[0]) for e in extras_of(install_blocks()["legacy"]) for r in EXTRAS[e]}
    for module in LEGACY_TOKENIZER_MODULES:
        assert canonicalize_name(module) in documented, module


def test_a_missing_package_is_one_line_with_its_pip_command():
    with pytest.raises(MissingPackageError) as raised:
        require_packages("the thing", {"json": "pip install json", "not_a_real_module.sub": "pip install real-one"})
    assert str(raised.value) == "the thing needs not_a_real_module, which is not installed: pip install real-one"
