"""What a user of the installed package relies on: a light import, and a wheel that carries the
licence and the typing marker."""

import json
import subprocess
import sys
import zipfile

import kwarg_guard
from tests.helpers import ROOT


class TestImport:
    def test_import_loads_no_model_library(self):
        probe = (
            "import json, sys, kwarg_guard; "
            "print(json.dumps(sorted(m for m in ('transformers', 'peft', 'accelerate', 'boson_multimodal') "
            "if m in sys.modules)))"
        )
        loaded = json.loads(subprocess.check_output([sys.executable, "-c", probe], text=True))
        assert loaded == []

    def test_version_is_the_metadata_version(self):
        from importlib.metadata import version

        assert kwarg_guard.__version__ == version("kwarg_guard")


class TestWheel:
    def test_wheel_from_a_clean_checkout_carries_license_and_py_typed(self, tmp_path):
        # A clone holds only committed files; build from a copy of what git tracks (plus the
        # working tree's changes to them), so the test sees what a fresh clone would build.
        tracked = subprocess.check_output(["git", "ls-files", "-z"], cwd=ROOT, text=True).split("\0")
        source = tmp_path / "source"
        for name in filter(None, tracked):
            if (ROOT / name).is_file():
                (source / name).parent.mkdir(parents=True, exist_ok=True)
                (source / name).write_bytes((ROOT / name).read_bytes())
        subprocess.run(
            [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(tmp_path / "dist"), str(source)],
            check=True,
        )
        (wheel,) = (tmp_path / "dist").glob("kwarg_guard-*.whl")
        names = zipfile.ZipFile(wheel).namelist()
        assert "kwarg_guard/py.typed" in names
        assert any(name.endswith(".dist-info/licenses/LICENSE") for name in names)
        assert "kwarg_guard/_site/sitecustomize.py" in names
        assert wheel.name.startswith(f"kwarg_guard-{kwarg_guard.__version__}-")
