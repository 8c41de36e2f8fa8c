"""The examples in the docs and docstrings run as written: every module of the package is searched
for docstring examples (none is listed by hand), and every public name has one."""

import doctest
import importlib
import inspect
import pkgutil

import pytest

import kwarg_guard
from tests.helpers import ROOT

DOCS = ROOT / "docs"
# Importing it runs it: the start-up hook of launched processes.
RUN_ON_IMPORT = {"sitecustomize"}
MODULES = sorted(
    info.name
    for info in pkgutil.walk_packages(kwarg_guard.__path__, "kwarg_guard.")
    if info.name.rsplit(".", 1)[-1] not in RUN_ON_IMPORT
)


def _import_or_skip(name):
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        # Optional dependencies differ by stack (boson_multimodal only exists beside transformers 4.46).
        pytest.skip(f"{name} needs {exc.name}, which this stack does not install")


@pytest.mark.parametrize("name", ["kwarg_guard", *MODULES])
def test_docstring_examples(name):
    module = _import_or_skip(name)
    finder = doctest.DocTestFinder()
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    for test in finder.find(module, name):
        runner.run(test)
    assert runner.failures == 0


@pytest.mark.parametrize("name", kwarg_guard.__all__)
def test_every_public_name_has_an_example(name):
    obj = getattr(kwarg_guard, name)
    assert ">>>" in (inspect.getdoc(obj) or ""), f"kwarg_guard.{name} has no example in its docstring"


def test_the_package_has_examples_to_run():
    finder = doctest.DocTestFinder()
    examples = sum(len(test.examples) for test in finder.find(kwarg_guard._api))
    assert examples >= 10


@pytest.mark.parametrize("name", ["how-it-works.md", "troubleshooting.md"])
def test_markdown_examples(name):
    result = doctest.testfile(str(DOCS / name), module_relative=False, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
