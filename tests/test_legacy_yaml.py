"""`lc0-train config from-yaml`: legacy lczero-training YAML configs converted to JobSpecs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from google.protobuf import text_format

from lc0train import data_pb2, job_pb2, model_pb2, training_pb2
from service.cli import main
from workers.config.problems import ConfigError
from workers.config.resolve import resolve
from workers.config.spec import load_spec
from workers.config.legacy_convert import convert_legacy_yaml, to_textproto
from workers.config.legacy_keys import known_keys

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = {
    "se_resnet_10x128.yaml": "se_resnet_10x128.textproto",
    "bt_transformer_tf214.yaml": "bt_transformer_tf214.textproto",
    "attention_body_fae46e6.yaml": "legacy_attention_body.textproto",
}

RESNET_BASE = """
dataset: {input_train: 'tr/', input_test: 'te/'}
training: {batch_size: 64, total_steps: 100, test_steps: 50, train_avg_report_steps: 10, lr_values: [0.1],
           policy_loss_weight: 1.0, value_loss_weight: 1.0, moves_left_loss_weight: 1.0}
model: {filters: 16, residual_blocks: 2, se_ratio: 4}
"""


def _convert(text: str, warnings: list[str] | None = None) -> job_pb2.JobSpec:
    return convert_legacy_yaml(text, "test.yaml", warnings)


def _with(section: str, extra: str) -> str:
    """RESNET_BASE with `extra` (a `key: value` flow fragment) added to `section`."""
    lines = RESNET_BASE.strip().splitlines()
    out = []
    for line in lines:
        if line.startswith(f"{section}:"):
            line = line.replace("{", "{" + extra + ", ", 1)
        out.append(line)
    if not any(line.startswith(f"{section}:") for line in lines):
        out.append(f"{section}: {{{extra}}}")
    return "\n".join(out) + "\n"


def _problems(text: str) -> dict[str, str]:
    with pytest.raises(ConfigError) as info:
        _convert(text)
    return dict(info.value.problems)


@pytest.mark.parametrize("yaml_name", sorted(EXAMPLES))
def test_each_example_converts_to_the_committed_textproto(yaml_name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = ROOT / "configs" / "legacy" / yaml_name
    committed = ROOT / "configs" / EXAMPLES[yaml_name]
    out = tmp_path / "out.textproto"
    assert main(["config", "from-yaml", str(source), "--out", str(out)]) == 0
    assert out.read_text() == committed.read_text()
    job = resolve(load_spec(committed), source=str(committed))
    assert job.total_steps > 0
    # Without --out the textproto goes to stdout.
    capsys.readouterr()
    assert main(["config", "from-yaml", str(source)]) == 0
    assert capsys.readouterr().out == committed.read_text()


def test_resnet_example_has_the_legacy_architecture_and_schedule() -> None:
    spec = load_spec(ROOT / "configs" / "se_resnet_10x128.textproto")
    m, t = spec.model, spec.training
    assert (m.body, m.filters, m.residual_blocks, m.se_ratio) == (model_pb2.BODY_RESNET, 128, 10, 4)
    assert (m.policy, m.value, m.moves_left) == (model_pb2.POLICY_CONVOLUTION, model_pb2.VALUE_WDL, model_pb2.MOVES_LEFT_V1)
    assert t.optimizer == training_pb2.SGD and list(t.lr_boundaries) == [100000, 130000]
    assert t.swa and t.swa_steps == 20 and t.swa_max_n == 10
    assert spec.export.enabled  # the legacy trainer wrote a net at every checkpoint


def test_tf214_example_gets_the_lineage_semantics() -> None:
    spec = load_spec(ROOT / "configs" / "bt_transformer_tf214.textproto")
    t = spec.training
    assert t.policy_loss == training_pb2.KL and t.value_q_source == training_pb2.ROOT
    # tf-214 nadam with weight decay is tfa's decoupled, LR-independent decay.
    assert t.optimizer == training_pb2.NADAMW and t.weight_decay_unscaled
    assert t.loss_weights.HasField("policy_soft") and t.loss_weights.value_q == 1.0
    assert spec.model.body == model_pb2.BODY_TRANSFORMER and spec.export.enabled


# (section, YAML fragment, proto field path, expected value)
SPOT_CHECKS = [
    ("training", "swa_max_n: 7, swa: true, swa_steps: 3", "training.swa_max_n", 7),
    ("training", "lr_boundaries: [30, 60], lr_values: [0.1, 0.01, 0.001]", "training.lr_boundaries", [30, 60]),
    ("training", "q_ratio: 0.25", "training.q_ratio", 0.25),
    ("training", "precision: 'half', loss_scale: 256", "training.precision", training_pb2.FP16),
    ("training", "precision: 'half', loss_scale: 256", "training.loss_scale", 256.0),
    ("training", "precision: 'half', loss_scale: 'dynamic'", "training.dynamic_loss_scale", True),
    ("training", "renorm: true, renorm_max_r: 2.0, renorm_max_d: 1.0", "model.renorm_max_r", 2.0),
    ("training", "renorm_momentum: 0.9", "model.renorm_momentum", 0.9),
    ("training", "optimizer: 'rmsprop'", "training.optimizer", training_pb2.RMSPROP),
    ("training", "optimizer: 'adabelief', weight_decay: 0.01", "training.weight_decay", 0.01),
    ("training", "new_optimizer: true", "training.new_optimizer", True),
    ("training", "lookahead_optimizer: true", "training.lookahead_optimizer", True),
    ("training", "max_grad_norm: 2.5", "training.max_grad_norm", 2.5),
    ("training", "reg_term_weight: 0.5", "training.reg_term_weight", 0.5),
    ("training", "num_batch_splits: 4", "training.num_batch_splits", 4),
    ("model", "virtual_batch_size: 8", "model.virtual_batch_size", 8),
    ("model", "policy: 'classical', policy_channels: 16", "model.policy_channels", 16),
    ("model", "policy: 'attention', pol_embedding_size: 24", "model.policy_embedding_size", 24),
    ("model", "pol_encoder_layers: 0", "model.pol_encoder_layers", 0),
    ("model", "value: 'classical'", "model.value", model_pb2.VALUE_CLASSICAL),
    ("model", "moves_left: 'none'", "model.moves_left", model_pb2.MOVES_LEFT_NONE),
    ("model", "default_activation: 'mish'", "model.default_activation", model_pb2.MISH),
    ("model", "input_type: 'frc_castling'", "model.input_type", model_pb2.INPUT_112_WITH_CASTLING_PLANE),
    ("model", "input_type: 'canonical_100'", "model.input_type", model_pb2.INPUT_112_WITH_CANONICALIZATION_HECTOPLIES),
    ("model", "input_type: 'canonical_armageddon'", "model.input_type", model_pb2.INPUT_112_WITH_CANONICALIZATION_HECTOPLIES_ARMAGEDDON),
    ("model", "input_type: 'canonical_v2_armageddon'", "model.input_type", model_pb2.INPUT_112_WITH_CANONICALIZATION_V2_ARMAGEDDON),
    ("dataset", "input_validation: ['va/', 'vb/']", "dataset.input_validation", ["va/", "vb/"]),
    ("model", "square_relu_ffn: true", "model.ffn_activation", model_pb2.RELU_2),
    ("training", "loss_weights: {policy: 2.0, value_q: 0.5}", "training.loss_weights.value_q", 0.5),
    ("training", "loss_weights: {policy: 2.0}, precision: 'half', loss_scale: 128", "training.dynamic_loss_scale", True),
    ("training", "optimizer: 'nadam', weight_decay: 0.001", "training.weight_decay_unscaled", True),
]


@pytest.mark.parametrize("section,fragment,field,expected", SPOT_CHECKS, ids=lambda v: v if isinstance(v, str) and "." in v else None)
def test_mapped_key_lands_in_its_field(section: str, fragment: str, field: str, expected: object) -> None:
    spec = _convert(_with(section, fragment))
    value: object = spec
    for name in field.split("."):
        value = getattr(value, name)
    if isinstance(expected, list):
        value = list(value)  # type: ignore[arg-type]
    if isinstance(expected, float):
        assert value == pytest.approx(expected)
    else:
        assert value == expected


def test_spot_checked_resnet_variants_resolve() -> None:
    for fragment in ("policy: 'classical', value: 'classical'", "moves_left: 'none'", "virtual_batch_size: 8"):
        text = _with("model", fragment)
        if "none" in fragment:
            text = text.replace(", moves_left_loss_weight: 1.0", "")
        resolve(_convert(text), "test.yaml")


def test_legacy_defaults_sgd_classic_input_and_resnet_body() -> None:
    spec = _convert(RESNET_BASE)
    assert spec.training.optimizer == training_pb2.SGD
    assert spec.model.input_type == model_pb2.INPUT_CLASSICAL_112_PLANE
    assert spec.model.body == model_pb2.BODY_RESNET
    assert spec.training.policy_loss == training_pb2.CROSS_ENTROPY and spec.training.value_q_source == training_pb2.BEST
    resolve(spec, "test.yaml")


def test_keys_without_effect_are_notes_and_unhonourable_values_errors() -> None:
    text = "gpu: 0\n" + _with("training", "sparse: true, path: 'nets', diff_focus_min: 0.5, profile_step_count: 3, bogus_key: 1")
    text = text.replace("dataset: {", "dataset: {num_chunks: 1000, allow_less_chunks: true, sort_type: 'mtime', ")
    assert _problems(text) == {"training.sparse": "only False converts: 2:4 sparsity is not implemented"}
    warnings: list[str] = []
    spec = _convert(text.replace("sparse: true", "sparse: false"), warnings)
    noted = {w.split(":", 1)[0] for w in warnings}
    assert noted == {"gpu", "training.path", "training.profile_step_count", "training.bogus_key"}
    assert spec.dataset.diff_focus_min == 0.5  # mapped, no longer refused
    # The window keys map to the newest-chunks window.
    assert (spec.dataset.num_chunks, spec.dataset.allow_less_chunks, spec.dataset.sort_type) == (1000, True, data_pb2.SORT_TYPE_MTIME)
    assert any(w.startswith("training.bogus_key: read by no legacy code") for w in warnings)
    with pytest.raises(ConfigError, match=r"test\.yaml: .*gpu: no effect here.*\(an error under --strict\)"):
        convert_legacy_yaml(text.replace("sparse: true", "sparse: false"), "test.yaml", strict=True)


def test_default_valued_no_ops_are_accepted_and_noted() -> None:
    warnings: list[str] = []
    text = _with("training", "sparse: false, diff_focus_min: 1, diff_focus_slope: 0, swa_output: true")
    text = text.replace("se_ratio: 4", "se_ratio: 4, dropout_rate: 0.0, input_gate: 1, arc_encoding: true")
    _convert(text, warnings)
    noted = {w.split(":", 1)[0] for w in warnings}
    assert {"training.swa_output", "model.input_gate", "model.arc_encoding"} <= noted


@pytest.mark.parametrize("section,fragment,path,reason", [
    ("model", "policy: 'banana'", "model.policy", "unknown value 'banana'"),
    ("model", "value: 'mse'", "model.value", "unknown value 'mse'"),
    ("model", "input_type: 'canonical_v3'", "model.input_type", "unknown value 'canonical_v3'"),
    ("model", "default_activation: 'selu'", "model.default_activation", "unknown value 'selu'"),
    ("training", "optimizer: 'adam'", "training.optimizer", "unknown value 'adam'"),
    ("training", "precision: 'double'", "training.precision", "unknown value 'double'"),
    ("training", "swa: 'yes'", "training.swa", "expected true or false"),
    ("training", "lr_boundaries: [1.5]", "training.lr_boundaries", "expected an integer"),
    ("training", "loss_weights: {policy: 1.0, value_winer: 1.0}", "training.loss_weights", "value_winer"),
])
def test_bad_values_name_the_key(section: str, fragment: str, path: str, reason: str) -> None:
    problems = _problems(_with(section, fragment))
    assert reason in problems[path]


FAE46E6_ATTENTION = "embedding_size: 64, encoder_layers: 2, encoder_d_model: 64, policy: 'attention'"


def test_fae46e6_attention_body_converts_to_the_pe_map_body_with_its_defaults() -> None:
    text = RESNET_BASE.replace("filters: 16, residual_blocks: 2, se_ratio: 4", FAE46E6_ATTENTION + ", use_smolgen: true")
    m = _convert(text).model
    assert (m.body, m.embedding_style, m.HasField("arc_encoding")) == (model_pb2.BODY_TRANSFORMER, model_pb2.EMBEDDING_MAP, False)
    assert (m.default_activation, m.encoder_heads, m.encoder_dff) == (model_pb2.RELU, 2, 96)
    assert (m.smolgen_hidden_channels, m.smolgen_hidden_sz, m.smolgen_gen_sz, m.smolgen_activation) == (16, 128, 128, model_pb2.SWISH)
    job = resolve(_convert(text), "test.yaml")
    assert job.model.dims.map_embedding
    off = _convert(text.replace("use_smolgen: true", "arc_encoding: false")).model
    assert off.HasField("arc_encoding") and not off.arc_encoding


def test_fae46e6_attention_body_without_attention_policy_is_refused() -> None:
    body = FAE46E6_ATTENTION.replace("policy: 'attention'", "policy: 'convolution'")
    assert "needs policy 'attention'" in _problems(RESNET_BASE.replace("filters: 16, residual_blocks: 2, se_ratio: 4", body))["model.policy"]


def test_fae46e6_attention_body_classical_value_and_no_moves_left_map() -> None:
    body = FAE46E6_ATTENTION.replace("policy: 'attention'", "policy: 'attention', value: 'classical', moves_left: 'none'")
    text = RESNET_BASE.replace("filters: 16, residual_blocks: 2, se_ratio: 4", body).replace(", moves_left_loss_weight: 1.0", "")
    m = _convert(text).model
    assert (m.body, m.value, m.moves_left) == (model_pb2.BODY_TRANSFORMER, model_pb2.VALUE_CLASSICAL, model_pb2.MOVES_LEFT_NONE)
    job = resolve(_convert(text), "test.yaml")
    assert (job.model.dims.wdl_value, job.model.dims.moves_left_head, job.losses.moves_left) == (False, False, 0.0)


def test_tf214_body_options_map_to_their_fields() -> None:
    text = _with("training", "loss_weights: {policy: 1.0, value_winner: 1.0, moves_left: 1.0}")
    text = text.replace("filters: 16, residual_blocks: 2, se_ratio: 4",
                        "embedding_size: 32, encoder_layers: 2, encoder_heads: 4, encoder_dff: 48, embedding_style: 'old', "
                        "encoder_rms_norm: true, skip_first_ln: true, omit_qkv_biases: true, omit_other_biases: true")
    warnings: list[str] = []
    m = _convert(text, warnings).model
    assert m.embedding_style == model_pb2.EMBEDDING_MAP and m.embedding_dense_sz == 0
    assert m.encoder_rms_norm and m.skip_first_ln and m.omit_qkv_biases and m.omit_other_biases
    assert any(w.startswith("model.embedding_style: 'old' converts to lc0's arc-encoded PE_MAP") for w in warnings)
    new = _convert(text.replace("'old'", "'new'")).model
    assert new.embedding_style == model_pb2.EMBEDDING_STYLE_DEFAULT and new.embedding_dense_sz == 128


def test_cli_exits_2_naming_every_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("gpu: all\n" + _with("model", "policy: 'banana'"))
    assert main(["config", "from-yaml", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "model.policy: unknown value 'banana'" in err and "gpu" not in err  # a note is no error
    assert main(["config", "from-yaml", str(bad), "--strict"]) == 2
    assert "gpu: no effect here" in capsys.readouterr().err


# The keys of legacy_trainer_semantics.md: its key tables, the `related:` row and the prose
# (dataset keys, tf-214 model and training keys), each as `section.key`.
DOCUMENT_KEYS = {
    "": ["gpu"],
    "dataset": ["num_chunks", "allow_less_chunks", "train_ratio", "input", "input_train", "input_test", "input_validation"],
    "training": ["batch_size", "beta_1", "beta_2", "checkpoint_steps", "epsilon", "lookahead_optimizer", "loss_scale",
                 "lr_boundaries", "lr_values", "mask_legal_moves", "max_grad_norm", "moves_left_loss_weight", "new_optimizer",
                 "num_batch_splits", "num_test_positions", "optimizer", "policy_loss_weight", "precision", "profile_step_count",
                 "profile_step_freq", "profile_step_offset", "q_ratio", "reg_term_weight", "renorm", "renorm_max_d", "renorm_max_r",
                 "renorm_momentum", "sparse", "swa", "swa_max_n", "swa_output", "swa_steps", "test_steps", "total_steps",
                 "train_avg_report_steps", "validation_steps", "value_loss_weight", "warmup_steps", "weight_decay", "shuffle_size",
                 "loss_weights", "diff_focus_min", "diff_focus_slope", "diff_focus_q_weight", "diff_focus_pol_scale",
                 "accuracy_thresholds", "path"],
    "model": ["arc_encoding", "default_activation", "dropout_rate", "embedding_size", "encoder_d_model", "encoder_dff",
              "encoder_heads", "encoder_layers", "filters", "input_gate", "input_type", "moves_left", "moves_left_embedding_size",
              "pol_embedding_size", "pol_encoder_d_model", "pol_encoder_dff", "pol_encoder_heads", "pol_encoder_layers", "policy",
              "policy_channels", "policy_d_model", "residual_blocks", "se_ratio", "smolgen_activation", "smolgen_gen_sz",
              "smolgen_hidden_channels", "smolgen_hidden_sz", "square_relu_ffn", "use_smolgen", "value", "value_embedding_size",
              "virtual_batch_size", "embedding_style", "embedding_dense_sz", "encoder_rms_norm", "skip_first_ln",
              "omit_qkv_biases", "omit_other_biases", "ffn_activation", "policy_embedding_size", "policy_d_aux",
              "soft_policy", "soft_policy_temperature", "categorical_value_buckets"],
}


def test_every_semantics_document_key_is_known() -> None:
    """Each legacy key of the semantics document is mapped, rejected with a reason, or a noted no-op."""
    paths = {f"{section}.{key}" if section else key for section, keys in DOCUMENT_KEYS.items() for key in keys}
    assert paths - known_keys() == set()


def test_a_key_in_the_wrong_section_is_unread() -> None:
    warnings: list[str] = []
    _convert(_with("model", "lr_values: [0.1]"), warnings)
    assert "model.lr_values: read by no legacy code (fae46e6 or tf-214): ignored" in warnings


def test_textproto_round_trips() -> None:
    spec = _convert(RESNET_BASE)
    again = job_pb2.JobSpec()
    text_format.Parse(to_textproto(spec, "x.yaml"), again)
    assert again == spec


# Shrinks each converted example to seconds on CPU; everything else (optimizer, schedule
# shape, loss lineage, SWA, heads) stays as converted.
EXAMPLE_SHRINK = {
    "se_resnet_10x128.textproto": ["model.filters=8", "model.residual_blocks=1", "model.se_ratio=2"],
    "bt_transformer_tf214.textproto": ["model.embedding_size=16", "model.embedding_dense_sz=4", "model.encoder_layers=1",
                                       "model.encoder_heads=2", "model.encoder_d_model=16", "model.encoder_dff=32",
                                       "model.smolgen_hidden_channels=4", "model.smolgen_hidden_sz=16", "model.smolgen_gen_sz=16",
                                       "model.policy_embedding_size=16", "model.policy_d_model=16", "model.value_embedding_size=4",
                                       "model.moves_left_embedding_size=2", "export.enabled=false"],
    # Export stays on: the job writes PE_MAP nets at its end.
    "legacy_attention_body.textproto": ["model.input_type=INPUT_CLASSICAL_112_PLANE", *(
        f"model.{field}={value}" for field, value in (
            ("embedding_size", 16), ("encoder_layers", 1), ("encoder_heads", 2), ("encoder_d_model", 16), ("encoder_dff", 24),
            ("smolgen_hidden_channels", 4), ("smolgen_hidden_sz", 16), ("smolgen_gen_sz", 16), ("policy_embedding_size", 16),
            ("policy_d_model", 16), ("value_embedding_size", 4), ("moves_left_embedding_size", 2)))],
}


@pytest.mark.slow
@pytest.mark.parametrize("textproto", sorted(EXAMPLE_SHRINK))
def test_converted_example_trains_with_every_configured_term_reported(textproto: str, tmp_path: Path,
                                                                      generated_data: dict[str, Path]) -> None:
    from workers.events import Event, EventBus
    from workers.layout import JobPaths
    from workers.training.loop import run_training

    spec = load_spec(ROOT / "configs" / textproto)
    data = ([f"dataset.input={generated_data['train'].parent}/*"] if spec.dataset.input
            else [f"dataset.input_train={generated_data['train']}", f"dataset.input_test={generated_data['test']}"])
    job = resolve(load_spec(ROOT / "configs" / textproto, [*EXAMPLE_SHRINK[textproto], *data, "training.batch_size=16",
                                                           "training.shuffle_size=256", "training.total_steps=8",
                                                           "training.train_avg_report_steps=4", "training.test_steps=8",
                                                           "training.num_test_positions=64", "training.checkpoint_steps=0",
                                                           "training.warmup_steps=2", "training.swa_steps=2"]))
    events: list[Event] = []
    bus = EventBus()
    bus.subscribe(events.append)
    run_training(job, JobPaths(tmp_path), bus)
    reports = [event for event in events if event.kind == "train"]
    assert [event.step for event in reports] == [4, 8]
    weighted = [f"{name}_loss" for name in ("policy", "value_winner", "value_q", "moves_left", "reg") if getattr(job.losses, name) > 0]
    assert {"policy_loss", "value_winner_loss", "moves_left_loss", "reg_loss"} <= set(weighted)
    for event in reports:
        assert all(np.isfinite(value) for value in event.metrics.values()), event.metrics
        assert set(weighted) <= set(event.metrics), sorted(event.metrics)
        assert all(event.metrics[term] > 0 for term in weighted), event.metrics
    assert (tmp_path / "checkpoints").is_dir()
    if job.export_nets:  # the final net is one lc0 reads as the same architecture
        from workers.lc0net.importer import import_net
        from workers.lc0net.netfile import read_net

        assert import_net(read_net(tmp_path / "nets" / "8.pb.gz")).config.embedding_style == job.model.config.embedding_style
def test_tf214_auxiliary_loss_weights_build_their_heads() -> None:
    text = """
dataset: {input_train: 'tr/', input_test: 'te/'}
training: {batch_size: 64, total_steps: 100, test_steps: 50, train_avg_report_steps: 10, lr_values: [0.1],
           loss_weights: {policy: 1.0, policy_optimistic_st: 0.5, policy_soft: 0.3, policy_next: 0.1, value_q_cat: 0.2,
                          value_winner: 1.0, policy_opponent: 0.0}}
model: {embedding_size: 32, encoder_layers: 1, encoder_heads: 2, encoder_dff: 32, value_embedding_size: 4, moves_left_embedding_size: 2,
        soft_policy: true, soft_policy_temperature: 2.0, categorical_value_buckets: 16}
"""
    spec = _convert(text)
    m = spec.model
    assert list(m.aux_policy_heads) == [model_pb2.POLICY_HEAD_OPTIMISTIC_ST, model_pb2.POLICY_HEAD_SOFT, model_pb2.POLICY_HEAD_NEXT]
    assert list(m.aux_value_heads) == [model_pb2.VALUE_HEAD_ST, model_pb2.VALUE_HEAD_Q]
    assert m.value_error_outputs and m.categorical_value_buckets == 16 and m.soft_policy_temperature == 2.0
    weights = dict(resolve(spec, "test.yaml").losses.aux)
    assert weights["policy_optimistic_st"] == 0.5 and weights["value_q_cat"] == pytest.approx(0.2)
    assert weights["policy_next"] == pytest.approx(0.1) and "policy_opponent" not in weights  # weight 0: no head built


TF214_BASE = """
dataset: {input_train: 'tr/', input_test: 'te/'}
training: {batch_size: 64, total_steps: 100, test_steps: 50, train_avg_report_steps: 10, lr_values: [0.1],
           loss_weights: {policy: 1.0, value_winner: 1.0}}
model: {embedding_size: 32, encoder_layers: 1, encoder_heads: 2, encoder_dff: 32, value_embedding_size: 4,
        moves_left_embedding_size: 2, default_activation: 'mish', EXTRA}
"""


@pytest.mark.parametrize(
    ("extra", "exported", "note"),
    [
        ("encoder_d_model: 32", True, None),
        ("encoder_rms_norm: true", False, "export: stays off, the net cannot be exported to lc0: model.encoder_rms_norm"),
        ("categorical_value_buckets: 16", True, "model.categorical_value_buckets: ignored: no q or st value head is trained"),
        ("soft_policy_temperature: 2.0", True, "model.soft_policy_temperature: ignored: the soft policy head is not trained"),
    ],
)
def test_export_and_head_options_follow_what_the_net_can_be(extra: str, exported: bool, note: str | None) -> None:
    warnings: list[str] = []
    spec = _convert(TF214_BASE.replace("EXTRA", extra), warnings)
    assert spec.export.enabled is exported
    assert not spec.model.aux_policy_heads and not spec.model.aux_value_heads
    assert spec.model.categorical_value_buckets == 0 and not spec.model.HasField("soft_policy_temperature")
    if note is not None:
        assert any(note in warning for warning in warnings), warnings
    resolve(spec, "test.yaml")  # the converted spec is valid


def test_a_converted_resnet_exports_like_the_legacy_trainer() -> None:
    assert _convert(RESNET_BASE).export.enabled
