"""Shared fixtures (generated chunk data) and the test session's XLA compilation cache; constants are in helpers.py."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

# Compiled XLA programs are cached on disk and shared by the tests and the trainer processes
# they start: many tests compile the same shrunk model. Set before any test imports JAX.
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", str(Path(tempfile.gettempdir()) / "lc0-train-tests-xla-cache"))


@pytest.fixture(scope="session")
def generated_data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Train and test chunk directories written by our own writer (python-chess games)."""
    from workers.data.writer import write_games

    root = tmp_path_factory.mktemp("generated")
    write_games(root / "train", num_games=12, seed=1, max_plies=80)
    write_games(root / "test", num_games=3, seed=2, max_plies=80)
    return {"train": root / "train", "test": root / "test"}
