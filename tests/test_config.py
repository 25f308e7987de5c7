"""Textproto loading, overrides and validation of JobSpec."""

from pathlib import Path

import pytest

from lc0train import training_pb2
from workers.config.problems import ConfigError
from workers.config.resolve import resolve
from workers.config.spec import apply_override, load_spec

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "configs" / "tiny.textproto"


@pytest.mark.parametrize("path", sorted((ROOT / "configs").glob("*.textproto")), ids=lambda p: p.name)
def test_every_shipped_config_validates(path: Path) -> None:
    job = resolve(load_spec(path), source=str(path))
    assert job.batch_size > 0 and job.total_steps > 0


def test_parse_error_names_file_line_and_field(tmp_path: Path) -> None:
    bad = tmp_path / "bad.textproto"
    bad.write_text('name: "x"\ntraining {\n  batch_sise: 3\n}\n')
    with pytest.raises(ConfigError, match=r"bad\.textproto: line 3, column \d+: .*no field named \"batch_sise\""):
        load_spec(bad)


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read config"):
        load_spec(tmp_path / "nope.textproto")


def test_validation_names_every_bad_field_path() -> None:
    spec = load_spec(TINY, ["training.batch_size=0", "model.encoder_heads=3", "training.lr_boundaries=[10]"])
    with pytest.raises(ConfigError) as info:
        resolve(spec)
    paths = {path for path, _ in info.value.problems}
    assert {"training.batch_size", "model.encoder_heads", "training.lr_values"} <= paths
    assert "must be > 0 (got 0)" in str(info.value)


@pytest.mark.parametrize("field", ["value_hidden_size", "moves_left_hidden_size", "value_embedding_size"])
def test_negative_head_widths_are_rejected(field: str) -> None:
    with pytest.raises(ConfigError, match=rf"model\.{field}: is -4: it must be positive"):
        resolve(load_spec(TINY, [f"model.{field}=-4"]))


def test_cross_field_rules() -> None:
    spec = load_spec(TINY, ["training.optimizer=SGD"])
    with pytest.raises(ConfigError, match=r"training\.weight_decay: requires optimizer ADAMW, NADAMW or ADABELIEF"):
        resolve(spec)
    spec = load_spec(TINY, ["training.validation_steps=10"])
    with pytest.raises(ConfigError, match=r"training\.validation_steps: requires dataset\.input_validation"):
        resolve(spec)
    spec = load_spec(TINY, ["dataset.input=a", "dataset.train_ratio=1.5"])
    with pytest.raises(ConfigError, match=r"dataset\.input: use either"):
        resolve(spec)


def test_overrides_set_scalars_enums_lists_and_strings() -> None:
    spec = load_spec(TINY, [
        "training.batch_size=32",
        "training.optimizer=ADAM",
        "training.weight_decay=0",
        "training.lr_values=[0.1, 0.01]",
        "training.lr_boundaries=100",
        "dataset.input_train=/a/b,/c/*.gz",
    ])
    assert spec.training.batch_size == 32
    assert spec.training.optimizer == training_pb2.ADAM
    assert list(spec.training.lr_boundaries) == [100]
    assert list(spec.dataset.input_train) == ["/a/b", "/c/*.gz"]
    job = resolve(spec)
    assert job.schedule.lr_values == pytest.approx((0.1, 0.01))


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("training.batch_sise=3", r"training\.batch_sise: no such field"),
        ("training.batch_size=abc", r"training\.batch_size: bad value 'abc'"),
        ("training=3", r"training: is a message"),
        ("nonsense", r"expected field\.path=value"),
    ],
)
def test_bad_overrides_name_the_field(override: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        apply_override(load_spec(TINY), override)


def test_resolve_fills_defaults_without_touching_the_spec() -> None:
    spec = load_spec(TINY)
    before = spec.SerializeToString()
    job = resolve(spec)
    assert spec.SerializeToString() == before
    assert job.model.dims.d_model == spec.model.embedding_size
    assert job.model.dims.policy_d_model == spec.model.embedding_size
    assert job.optimizer.epsilon == pytest.approx(1e-7)
    assert job.losses.policy == 1.0 and job.losses.reg == 1.0


def test_model_defaults_come_from_the_dims_and_every_bad_model_field_is_named() -> None:
    job = resolve(load_spec(TINY, ["model.value_embedding_size=", "model.moves_left_embedding_size=", "model.value_hidden_size="]))
    dims = job.model.dims
    assert (dims.value_channels, dims.moves_left_channels, dims.value_hidden) == (32, 8, 128)
    assert job.model.config.value_embedding_size == 0  # the spec's model is kept as written
    spec = load_spec(TINY, ["model.encoder_layers=0", "model.encoder_dff=-1", "model.categorical_value_buckets=1"])
    with pytest.raises(ConfigError) as info:
        resolve(spec)
    paths = {path for path, _ in info.value.problems}
    assert {"model.encoder_layers", "model.encoder_dff", "model.categorical_value_buckets"} <= paths
