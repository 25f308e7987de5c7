"""The legacy key table against the legacy code, and the legacy repository's example configs."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from lc0train import job_pb2
from service.cli import main
from workers.config.host_limits import MAX_NUM_CHUNKS
from workers.config.legacy_convert import convert_legacy_yaml
from workers.config.legacy_keys import HEAD_FLAGS, UNREAD, known_keys
from workers.config.problems import ConfigError
from workers.config.resolve import resolve
from workers.config.spec import load_spec
from tests.test_legacy_yaml import EXAMPLE_SHRINK

DATA = Path(__file__).resolve().parent / "data" / "legacy"
EXAMPLES = ("example_fae46e6.yaml", "example_tf214.yaml")


SOURCES = {"dc899d6", "009f4f5", "d533d9c", "504acc7", "doc"}  # named in legacy_reads.txt's header


def _legacy_reads() -> dict[str, set[str]]:
    """Key → the `lineage file` places that read it, from the checked-in list."""
    reads: dict[str, set[str]] = {}
    for line in (DATA / "legacy_reads.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            lineage, source, file, key = line.split()
            assert lineage in ("fae46e6", "1317cc3") and source in SOURCES, line
            reads.setdefault(key, set()).add(f"{lineage} {file}")
    return reads


def test_every_key_the_legacy_code_reads_is_in_the_table_and_nothing_else_is() -> None:
    reads = _legacy_reads()
    assert {"fae46e6 tf/tfprocess.py", "1317cc3 tf/tfprocess.py"} <= reads["training.precision"]
    assert set(reads) - known_keys() == set()  # no read key falls between the cracks
    assert known_keys() - set(reads) == set(UNREAD)  # the table holds no key that nothing reads, UNREAD aside


@pytest.mark.parametrize("name", EXAMPLES)
def test_legacy_example_converts_with_notes_only(name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = DATA / name
    assert re.search(r"\b[0-9a-f]{40}\b", source.read_text().split("\nname:")[0])  # the header names its source commit
    out = tmp_path / "out.textproto"
    assert main(["config", "from-yaml", str(source), "--out", str(out)]) == 0
    err = capsys.readouterr().err
    text = out.read_text()
    for key in ("gpu", "training.path", "dataset.train_ratio"):
        assert f"warning: {key}: " in err
        assert f"#   {key}: " in text  # the same note as a comment line of the output
    spec = load_spec(out)
    assert spec.dataset.sample == 32 and spec.dataset.input_train and not spec.dataset.train_ratio
    resolve(spec, str(out))
    # --strict turns the notes into errors naming each key.
    assert main(["config", "from-yaml", str(source), "--strict"]) == 2
    assert "gpu: no effect here" in capsys.readouterr().err


def test_tf214_example_maps_its_heads_and_notes_its_workers() -> None:
    warnings: list[str] = []
    spec = convert_legacy_yaml((DATA / "example_tf214.yaml").read_text(), "x.yaml", warnings)
    noted = {w.split(":", 1)[0] for w in warnings}
    assert {"dataset.train_workers", "dataset.test_workers", "training.value_focus_min",
            "model.policy_d_aux"} <= noted
    assert not noted & set(HEAD_FLAGS)  # its head flags agree with its loss weights
    assert len(spec.model.aux_value_heads) == 2 and spec.model.categorical_value_buckets == 32


def test_a_window_above_the_index_limit_is_capped_only_where_allow_less_chunks_allows_fewer() -> None:
    warnings: list[str] = []
    text = BASE.replace("WEIGHTS", "moves_left: 1.0").replace("FLAGS", "dropout_rate: 0.0")
    many = text.replace("input_test: 'te/'", "input_test: 'te/', num_chunks: 500_000_000, allow_less_chunks: true")
    assert convert_legacy_yaml(many, "t.yaml", warnings).dataset.num_chunks == MAX_NUM_CHUNKS
    assert any(w.startswith(f"dataset.num_chunks: 500000000 is above the window index limit of {MAX_NUM_CHUNKS}") for w in warnings)
    with pytest.raises(ConfigError, match=r"dataset\.num_chunks: a window of 500000000 chunks needs"):
        resolve(convert_legacy_yaml(many.replace("allow_less_chunks: true", "allow_less_chunks: false"), "t.yaml"))


def test_diff_focus_keys_map_to_the_sampling_fields() -> None:
    spec = _tf214("value_q: 0.0", "dropout_rate: 0.0").dataset
    assert spec.sample == 32 and not spec.HasField("diff_focus_min")
    text = BASE.replace("WEIGHTS", "moves_left: 1.0").replace("FLAGS", "dropout_rate: 0.0").replace(
        "lr_values: [0.1],", "lr_values: [0.1], diff_focus_min: 0.025, diff_focus_slope: 3.0, diff_focus_q_weight: 5.0, "
                             "diff_focus_pol_scale: 2.5,")
    d = convert_legacy_yaml(text, "t.yaml").dataset
    assert (d.diff_focus_min, d.diff_focus_slope, d.diff_focus_q_weight, d.diff_focus_pol_scale) == pytest.approx((0.025, 3.0, 5.0, 2.5))


BASE = """
dataset: {input_train: 'tr/', input_test: 'te/'}
training: {batch_size: 64, total_steps: 100, test_steps: 50, train_avg_report_steps: 10, lr_values: [0.1],
           loss_weights: {policy: 1.0, value_winner: 1.0, WEIGHTS}}
model: {embedding_size: 32, encoder_layers: 1, encoder_heads: 2, encoder_dff: 32, value_embedding_size: 4,
        moves_left_embedding_size: 2, FLAGS}
"""


def _tf214(weights: str, flags: str, warnings: list[str] | None = None) -> job_pb2.JobSpec:
    return convert_legacy_yaml(BASE.replace("WEIGHTS", weights).replace("FLAGS", flags), "t.yaml", warnings)


def test_a_weighted_term_whose_head_is_switched_off_is_an_error() -> None:
    with pytest.raises(ConfigError) as info:
        _tf214("value_st_err: 0.5", "value_st: false")
    problems = dict(info.value.problems)
    assert "value_st_err" in problems["model.value_st"] and "switch the head on" in problems["model.value_st"]


def test_a_head_without_a_weighted_term_is_left_out_with_a_note() -> None:
    warnings: list[str] = []
    spec = _tf214("value_q: 0.0", "value_q: true, policy_next: true", warnings)
    assert not spec.model.aux_value_heads and not spec.model.aux_policy_heads
    assert any(w.startswith("model.value_q: the head is left out") for w in warnings)
    assert any(w.startswith("model.policy_next: the head is left out") for w in warnings)


def test_a_weight_without_its_flag_builds_the_head_with_a_note() -> None:
    warnings: list[str] = []
    spec = _tf214("value_q: 0.5", "dropout_rate: 0.0", warnings)
    assert len(spec.model.aux_value_heads) == 1
    assert any(w.startswith("model.value_q: not set, but loss_weights value_q > 0") for w in warnings)


def test_a_head_flag_of_a_fae46e6_config_is_a_note() -> None:
    warnings: list[str] = []
    text = BASE.replace("loss_weights: {policy: 1.0, value_winner: 1.0, WEIGHTS}", "policy_loss_weight: 1.0, value_loss_weight: 1.0")
    spec = convert_legacy_yaml(text.replace("FLAGS", "policy: 'attention', value_q: true"), "t.yaml", warnings)
    assert "model.value_q: no effect without training.loss_weights: only tf-214 builds this head" in warnings
    assert not spec.model.aux_value_heads


def test_policy_d_aux_other_than_policy_d_model_with_a_soft_head_is_an_error() -> None:
    with pytest.raises(ConfigError, match=r"model\.policy_d_aux: 16 cannot be honoured"):
        _tf214("policy_soft: 1.0", "soft_policy: true, policy_d_model: 32, policy_d_aux: 16")


def test_unread_key_is_a_note_and_an_error_under_strict(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    warnings: list[str] = []
    _tf214("value_q: 0.5", "value_q: true, bogus_width: 3", warnings)
    assert "model.bogus_width: read by no legacy code (fae46e6 or tf-214): ignored" in warnings
    path = tmp_path / "bad.yaml"
    path.write_text(BASE.replace("WEIGHTS", "moves_left: 1.0").replace("FLAGS", "bogus_width: 3"))
    assert main(["config", "from-yaml", str(path)]) == 0
    assert "#   model.bogus_width: read by no legacy code" in capsys.readouterr().out
    assert main(["config", "from-yaml", str(path), "--strict"]) == 2
    assert "model.bogus_width: read by no legacy code (fae46e6 or tf-214): ignored (an error under --strict)" in capsys.readouterr().err


# The converted examples, shrunk to seconds on CPU as test_legacy_yaml shrinks the configs/
# examples of the same lineages; everything else stays as converted.
SHRINK = {"example_fae46e6.yaml": [*EXAMPLE_SHRINK["se_resnet_10x128.textproto"], "model.policy_embedding_size=8",
                                   "model.pol_encoder_heads=2", "model.pol_encoder_d_model=8", "model.pol_encoder_dff=16",
                                   "model.policy_d_model=8"],
          "example_tf214.yaml": [*EXAMPLE_SHRINK["bt_transformer_tf214.textproto"], "training.swa_steps=5"]}


@pytest.mark.slow
@pytest.mark.parametrize("name", EXAMPLES)
def test_converted_legacy_example_trains_20_steps_with_finite_weighted_terms(name: str, tmp_path: Path,
                                                                            generated_data: dict[str, Path]) -> None:
    from workers.data.rescore import rescore_files
    from workers.events import Event, EventBus
    from workers.layout import JobPaths
    from workers.training.loop import run_training

    converted = tmp_path / "converted.textproto"
    assert main(["config", "from-yaml", str(DATA / name), "--out", str(converted)]) == 0
    data = generated_data
    if name == "example_tf214.yaml":  # tf-214 trained on rescored V7 data (its short-term heads need it)
        data = {split: tmp_path / split for split in ("train", "test")}
        for split, folder in data.items():
            rescore_files([str(p) for p in sorted(generated_data[split].glob("*.gz"))], folder)
    job = resolve(load_spec(converted, [*SHRINK[name], f"dataset.input_train={data['train']}",
                                        f"dataset.input_test={data['test']}", "training.batch_size=16", "dataset.num_chunks=8",
                                        "training.shuffle_size=64", "training.total_steps=20", "training.test_steps=20",
                                        "training.train_avg_report_steps=10", "training.num_test_positions=32",
                                        "training.checkpoint_steps=0", "training.warmup_steps=2", "export.enabled=false"]))
    assert job.sampling.sample == 32
    events: list[Event] = []
    bus = EventBus()
    bus.subscribe(events.append)
    run_training(job, JobPaths(tmp_path / "job"), bus)
    reports = [event for event in events if event.kind == "train"]
    assert [event.step for event in reports] == [10, 20]
    weighted = {f"{name}_loss" for name in ("policy", "value_winner", "value_q", "moves_left", "reg") if getattr(job.losses, name) > 0}
    weighted |= {f"{term}_loss" for term, weight in job.losses.aux if weight > 0}
    for event in reports:
        assert weighted <= set(event.metrics), (sorted(weighted), sorted(event.metrics))
        assert all(np.isfinite(event.metrics[term]) for term in weighted), event.metrics
