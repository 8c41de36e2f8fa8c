"""The examples in the docs and docstrings run as written."""

import doctest
from pathlib import Path

import pytest

import kwarg_guard._doors

DOCS = Path(__file__).resolve().parent.parent / "docs"


def test_docstring_examples():
    result = doctest.testmod(kwarg_guard._doors, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0


@pytest.mark.parametrize("name", ["how-it-works.md"])
def test_markdown_examples(name):
    result = doctest.testfile(str(DOCS / name), module_relative=False, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
