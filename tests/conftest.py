"""Fixtures every test folder uses: a tiny real module and its input."""

from __future__ import annotations

import pytest
import torch

from tests.helpers import Labeled


@pytest.fixture
def labeled():
    torch.manual_seed(0)
    return Labeled()


@pytest.fixture
def x():
    return torch.ones(2, 4)
