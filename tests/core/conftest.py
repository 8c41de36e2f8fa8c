"""Fixtures of the core tests that more than one module uses."""

import importlib

import pytest

from kwarg_guard.presets import reload_entry_points


@pytest.fixture
def site(tmp_path, monkeypatch):
    """A folder on sys.path standing in for site-packages, for packages a test lays out."""
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()
    yield tmp_path
    monkeypatch.undo()
    importlib.invalidate_caches()
    reload_entry_points()
