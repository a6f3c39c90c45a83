"""Fixtures of the gigq-bench tests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from benchdata import BASE_CONFIG, make_rows, write_run


@pytest.fixture
def run_factory(tmp_path: Path) -> Callable[..., Path]:
    """Build a results directory from make_rows arguments."""
    counter = iter(range(1000))

    def factory(configs: list[dict[str, Any]] | None = None,
                versions: dict[str, float] | None = None, reps: int = 8, seed: int = 0,
                **kwargs: Any) -> Path:
        configs = configs or [BASE_CONFIG, {**BASE_CONFIG, "workers": 2}]
        versions = versions or {"current": 1.0}
        rows = make_rows(configs, versions, reps, seed=seed, **kwargs)
        return write_run(tmp_path / f"run{next(counter)}", rows,
                         {k: f"{k} version" for k in versions})

    return factory
