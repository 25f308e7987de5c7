"""Shared fixtures: generated chunk data and the shipped tiny config, shrunk for tests."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

# Compiled XLA programs are cached on disk and shared by the tests and the trainer processes
# they start: many tests compile the same shrunk model. Set before any test imports JAX.
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", str(Path(tempfile.gettempdir()) / "lc0-train-tests-xla-cache"))

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"
TINY_CONFIG = ROOT / "configs" / "tiny.textproto"
# Overrides that give a transformer every auxiliary head of the multi-head format.
ALL_HEADS = ("model.aux_policy_heads=[POLICY_HEAD_OPTIMISTIC_ST, POLICY_HEAD_SOFT, POLICY_HEAD_OPPONENT, POLICY_HEAD_NEXT]",
             "model.aux_value_heads=[VALUE_HEAD_Q, VALUE_HEAD_ST]", "model.value_error_outputs=true", "model.categorical_value_buckets=6")

# Shrinks configs/tiny.textproto to a net and a run that take seconds on CPU.
SHRINK = (
    "model.embedding_size=16",
    "model.embedding_dense_sz=4",
    "model.embedding_dff=32",
    "model.encoder_layers=1",
    "model.encoder_heads=2",
    "model.encoder_dff=32",
    "model.smolgen_hidden_channels=4",
    "model.smolgen_hidden_sz=16",
    "model.smolgen_gen_sz=16",
    "model.value_embedding_size=4",
    "model.moves_left_embedding_size=2",
    "training.batch_size=16",
    "training.shuffle_size=256",
    "training.warmup_steps=0",
    "export.enabled=false",  # tests that export turn it back on
)


@pytest.fixture(scope="session")
def generated_data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Train and test chunk directories written by our own writer (python-chess games)."""
    from workers.data.writer import write_games

    root = tmp_path_factory.mktemp("generated")
    write_games(root / "train", num_games=12, seed=1, max_plies=80)
    write_games(root / "test", num_games=3, seed=2, max_plies=80)
    return {"train": root / "train", "test": root / "test"}


def data_overrides(data: dict[str, Path]) -> list[str]:
    return [f"dataset.input_train={data['train']}", f"dataset.input_test={data['test']}"]
