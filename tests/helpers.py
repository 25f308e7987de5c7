"""Constants and helpers the tests share (fixtures live in conftest.py)."""

from __future__ import annotations

from pathlib import Path

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


def data_overrides(data: dict[str, Path]) -> list[str]:
    return [f"dataset.input_train={data['train']}", f"dataset.input_test={data['test']}"]
