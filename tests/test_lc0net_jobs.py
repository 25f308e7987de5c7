"""Training jobs and lc0 nets: export at checkpoints and from the CLI, starting from a net."""

from __future__ import annotations

from pathlib import Path

import jax
import numpy as np
import pytest

from lc0train import model_pb2, net_pb2
from tests.helpers import SHRINK, TINY_CONFIG, data_overrides
from tests.lc0net_helpers import TEST_POSITIONS, max_output_difference
from service.cli import main
from workers.config.problems import ConfigError
from workers.config.resolve import resolve
from workers.config.spec import load_spec
from workers.events import read_events
from workers.lc0net.evaluate import evaluate
from workers.lc0net.jobs import initial_params
from workers.lc0net.netfile import read_net
from workers.lc0net.store import load_stored, save_imported
from workers.model.dims import NetDims
from workers.training.state import init_params


def _run(out: Path, data: dict[str, Path], *extra: str) -> list[dict]:
    overrides = [*SHRINK, *data_overrides(data), "training.test_steps=2", "training.train_avg_report_steps=1", *extra]
    assert main(["run", str(TINY_CONFIG), "--out", str(out), *[a for o in overrides for a in ("--set", o)]]) == 0
    return read_events(out / "events.jsonl")


def _test_metrics(events: list[dict], step: int, swa: bool = False) -> dict[str, float]:
    return [e for e in events if e["kind"] == "test" and e["step"] == step and (e.get("weights") == "swa") == swa][-1]["metrics"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, generated_data: dict[str, Path]) -> tuple[Path, list[dict]]:
    """A tiny job of 4 steps with SWA, checkpoints (and exports) at steps 2 and 4."""
    job = tmp_path_factory.mktemp("lc0net") / "trained"
    events = _run(job, generated_data, "training.total_steps=4", "training.checkpoint_steps=2", "training.swa=true",
                  "training.swa_steps=1", "training.swa_max_n=10", "export.enabled=true")
    return job, events


@pytest.mark.slow
def test_jobs_export_raw_and_swa_nets_at_each_checkpoint(trained: tuple[Path, list[dict]]) -> None:
    job, events = trained
    assert sorted(p.name for p in (job / "nets").iterdir()) == ["2-swa.pb.gz", "2.pb.gz", "4-swa.pb.gz", "4.pb.gz"]
    raw, swa = read_net(job / "nets" / "4.pb.gz"), read_net(job / "nets" / "4-swa.pb.gz")
    assert raw.training_params.training_steps == 4
    assert raw.training_params.policy_loss == pytest.approx(_test_metrics(events, 4)["policy_loss"], rel=1e-6)
    assert swa.training_params.policy_loss == pytest.approx(_test_metrics(events, 4, swa=True)["policy_loss"], rel=1e-6)
    assert raw.training_params.learning_rate > 0
    assert raw.weights.ip_emb_b.params != swa.weights.ip_emb_b.params


@pytest.mark.slow
def test_cli_export_reimports_within_quantisation_of_the_checkpoint(trained: tuple[Path, list[dict]], tmp_path: Path) -> None:
    job, _ = trained
    net_file, imported = tmp_path / "trained.pb.gz", tmp_path / "imported"
    assert main(["net", "export", str(job / "checkpoints"), "--step", "2", "--out", str(net_file)]) == 0
    assert read_net(net_file).training_params.training_steps == 2
    assert main(["net", "import", str(net_file), "--out", str(imported)]) == 0
    checkpoint, reloaded = load_stored(job, step=2), load_stored(imported)
    assert NetDims.from_config(reloaded.config) == NetDims.from_config(checkpoint.config)
    assert reloaded.config.input_type == checkpoint.config.input_type and reloaded.training.steps == 2
    ours = evaluate(checkpoint.config, checkpoint.params, TEST_POSITIONS)
    worst = max_output_difference(evaluate(reloaded.config, reloaded.params, TEST_POSITIONS), ours)
    assert worst["policy"] < 1e-3 and worst["wdl"] < 1e-3 and worst["moves_left"] < 1e-2, worst
    assert main(["net", "export", str(job), "--swa", "--out", str(tmp_path / "swa.pb.gz")]) == 0
    assert read_net(tmp_path / "swa.pb.gz").weights.ip_emb_b == read_net(job / "nets" / "4-swa.pb.gz").weights.ip_emb_b


@pytest.mark.slow
def test_a_job_starts_from_an_imported_net(trained: tuple[Path, list[dict]], tmp_path: Path, generated_data: dict[str, Path]) -> None:
    job, events = trained
    imported, started = tmp_path / "imported", tmp_path / "started"
    assert main(["net", "import", str(job / "nets" / "4.pb.gz"), "--out", str(imported)]) == 0
    # A learning rate of 0 keeps the weights: the job's checkpoint must be the imported net.
    started_events = _run(started, generated_data, "training.total_steps=1", "training.lr_values=[0]", f"init_from.path={imported}")
    loaded, saved = load_stored(imported).params, load_stored(started).params
    assert jax.tree.structure(loaded) == jax.tree.structure(saved)
    for a, b in zip(jax.tree.leaves(loaded), jax.tree.leaves(saved)):
        np.testing.assert_allclose(b, a, rtol=1e-6, atol=1e-7)
    # Same test batches as the fresh run's first test, different weights: a different loss.
    started_loss, fresh_loss = _test_metrics(started_events, 0)["total_loss"], _test_metrics(events, 0)["total_loss"]
    assert abs(started_loss - fresh_loss) > 0.05 * fresh_loss


def test_init_from_refuses_another_architecture(tmp_path: Path) -> None:
    job = resolve(load_spec(TINY_CONFIG, SHRINK))
    other = model_pb2.ModelConfig()
    other.CopyFrom(job.model.config)
    other.embedding_size = 24
    save_imported(tmp_path / "stored", other, init_params(other, seed=0)[1], net_pb2.TrainingParams())
    with pytest.raises(ConfigError, match="init_from.path: .*stored has another architecture: model embedding 16 vs 24"):
        resolve(load_spec(TINY_CONFIG, [*SHRINK, f"init_from.path={tmp_path / 'stored'}"]))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="init_from.path: .*empty: neither a job directory"):
        resolve(load_spec(TINY_CONFIG, [*SHRINK, f"init_from.path={tmp_path / 'empty'}"]))
    # A path this host cannot see is left to the workers, which name it when they load it.
    unseen = resolve(load_spec(TINY_CONFIG, [*SHRINK, f"init_from.path={tmp_path / 'missing'}"]))
    with pytest.raises(ConfigError, match="init_from.path"):
        initial_params(unseen.init_from, init_params(job.model, seed=0)[1])


def test_export_requires_an_lc0_exportable_model() -> None:
    exportable = [*SHRINK, "export.enabled=true"]
    assert resolve(load_spec(TINY_CONFIG, exportable)).export_nets
    assert resolve(load_spec(TINY_CONFIG, [*SHRINK, "model.embedding_dense_sz=0"])).model.dims.embedding_dense == 0
    with pytest.raises(ConfigError, match="export.enabled: the model cannot be exported to lc0: model.embedding_dense_sz"):
        resolve(load_spec(TINY_CONFIG, [*exportable, "model.embedding_dense_sz=0"]))


def test_checkpoints_with_negative_gates_load_as_the_function_they_were_trained_as(tmp_path: Path) -> None:
    """Before the gate projection, the forward pass clamped negative multiplicative gates."""
    from google.protobuf import text_format

    from workers.training.checkpoint import Checkpointer
    from workers.training.setup import build_training

    job = resolve(load_spec(TINY_CONFIG, list(SHRINK)))
    init = init_params(job.model, job.seed)
    params = jax.tree.map(np.asarray, init.params)
    params["embedding"]["mult_gate"] = params["embedding"]["mult_gate"] - 2.0  # mostly negative
    assert (params["embedding"]["mult_gate"] < 0).any()
    state = build_training(job, init=init._replace(params=params)).state
    (tmp_path / "spec.textproto").write_text(text_format.MessageToString(job.spec))
    checkpointer = Checkpointer(tmp_path / "checkpoints", max_to_keep=1)
    checkpointer.save(state.replace(step=jax.numpy.asarray(3, state.step.dtype)), [{}])
    checkpointer.close()
    stored = load_stored(tmp_path)
    np.testing.assert_array_equal(stored.params["embedding"]["mult_gate"], np.maximum(params["embedding"]["mult_gate"], 0))
