"""The examples in the docs and docstrings run as written."""

import doctest
from pathlib import Path

import pytest

import kwarg_guard._doors
import kwarg_guard._explain

DOCS = Path(__file__).resolve().parent.parent / "docs"


@pytest.mark.parametrize("module", [kwarg_guard._doors, kwarg_guard._explain], ids=lambda m: m.__name__)
def test_docstring_examples(module):
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0


@pytest.mark.parametrize("name", ["how-it-works.md", "troubleshooting.md"])
def test_markdown_examples(name):
    result = doctest.testfile(str(DOCS / name), module_relative=False, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
