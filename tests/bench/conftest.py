"""Shared helpers for the gigq-bench tests."""

from __future__ import annotations

import pytest

pytest.importorskip("click")
pytest.importorskip("pandas")


@pytest.fixture
def out_dir(tmp_path):
    """An output directory for a sweep (not created: the sweep creates it)."""
    return tmp_path / "out"
