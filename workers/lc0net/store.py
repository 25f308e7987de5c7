"""Where network parameters come from and go to: training-job checkpoints and imported nets.

Two directory layouts hold parameters:
  job directory (`lc0-train run --out`): spec.textproto, checkpoints/<step>/state (the
      whole TrainState) and events.jsonl (losses and learning rates for training_params);
  imported net (`lc0-train net import --out`): model.textproto (the ModelConfig),
      params/ (Orbax, the parameter dict alone) and training_params.textproto (what the
      lc0 file recorded).
Both are accepted wherever a checkpoint is read; a job's checkpoints/ directory too.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import jax
import numpy as np
import orbax.checkpoint as ocp
from google.protobuf import text_format

from lc0train import model_pb2, net_pb2

from workers.config.spec import load_spec
from workers.layout import JobPaths
from workers.lc0net.export import TrainingInfo
from workers.lc0net.mapping import Params, merge_trees
from workers.model.gating import project_gates

MODEL_FILE = "model.textproto"
PARAMS_DIR = "params"
TRAINING_FILE = "training_params.textproto"


@dataclasses.dataclass(frozen=True)
class StoredNet:
    """A network's config and float32 parameters, with what its training recorded."""

    config: model_pb2.ModelConfig
    params: Params  # batch statistics (ResNet) merged in
    training: TrainingInfo


def save_imported(out: Path, config: model_pb2.ModelConfig, params: Params, training: net_pb2.TrainingParams) -> None:
    """Writes an imported net: the ModelConfig, an Orbax parameter checkpoint and training_params."""
    out.mkdir(parents=True, exist_ok=True)
    if (out / PARAMS_DIR).exists():
        raise FileExistsError(f"{out / PARAMS_DIR} already exists: choose an empty --out directory")
    (out / MODEL_FILE).write_text(text_format.MessageToString(config))
    (out / TRAINING_FILE).write_text(text_format.MessageToString(training))
    with ocp.StandardCheckpointer() as checkpointer:
        checkpointer.save((out / PARAMS_DIR).absolute(), params)


def load_stored(path: Path, step: int | None = None, swa: bool = False) -> StoredNet:
    """The parameters in `path` (imported net, job directory or its checkpoints/ directory)."""
    if (path / MODEL_FILE).exists():
        if step is not None or swa:
            raise ValueError(f"{path} is an imported net: it has one set of weights (no --step or --swa)")
        return _load_imported(path)
    return _load_job(_job_paths(path), step, swa)


def stored_config(path: Path) -> model_pb2.ModelConfig:
    """The ModelConfig of what `load_stored(path)` reads, without reading the weights."""
    if (path / MODEL_FILE).exists():
        return _imported_config(path)
    return load_spec(_job_paths(path).spec_file).model


def _job_paths(path: Path) -> JobPaths:
    """The job directory of `path` (itself or, for its checkpoints/ directory, its parent)."""
    in_checkpoints = JobPaths(path.parent).checkpoints == path and not JobPaths(path).spec_file.exists()
    paths = JobPaths(path.parent if in_checkpoints else path)
    if not paths.spec_file.exists():
        raise ValueError(f"{path}: neither a job directory (spec.textproto, checkpoints/) nor an imported net ({MODEL_FILE})")
    return paths


def _imported_config(path: Path) -> model_pb2.ModelConfig:
    return text_format.Parse((path / MODEL_FILE).read_text(), model_pb2.ModelConfig())


def _load_imported(path: Path) -> StoredNet:
    config = _imported_config(path)
    training = net_pb2.TrainingParams()
    if (path / TRAINING_FILE).exists():
        text_format.Parse((path / TRAINING_FILE).read_text(), training)
    with ocp.StandardCheckpointer() as checkpointer:
        params = checkpointer.restore((path / PARAMS_DIR).absolute())
    return StoredNet(config, _host(params), TrainingInfo(steps=training.training_steps))


def _load_job(paths: JobPaths, step: int | None, swa: bool) -> StoredNet:
    job = paths.root
    config = load_spec(paths.spec_file).model
    with ocp.CheckpointManager(paths.checkpoints.absolute(), item_names=("state", "data")) as manager:
        steps = manager.all_steps()
        if not steps:
            raise ValueError(f"{job}: no checkpoints yet")
        step = max(steps) if step is None else step
        if step not in steps:
            raise ValueError(f"{job}: no checkpoint of step {step} (have {sorted(steps)})")
        # A checkpoint written over another device mesh (more devices, sharded) is read onto this process's first device.
        onto = ocp.args.StandardRestore(fallback_sharding=jax.sharding.SingleDeviceSharding(jax.devices()[0]))
        state = manager.restore(step, args=ocp.args.Composite(state=onto))["state"]
    params = state.get("swa_params") if swa else state["params"]
    if params is None:
        raise ValueError(f"{job}: the checkpoint of step {step} has no SWA weights (training.swa is off)")
    stats = state.get("swa_batch_stats" if swa else "batch_stats") or {}
    # Checkpoints written before the gate projection existed may hold negative multiplicative
    # gates, which their forward pass clamped: projecting gives the function they were trained as.
    return StoredNet(config, merge_trees(_host(project_gates(params)), _host(stats)), _training_info(paths.events, step, swa))


def _host(params: Params) -> Params:
    """Float32 NumPy arrays with integer keys for list indices (Orbax restores strings)."""
    def convert(node: object) -> object:
        if isinstance(node, dict):
            return {int(k) if isinstance(k, str) and k.isdigit() else k: convert(v) for k, v in node.items()}
        return np.asarray(jax.device_get(node), np.float32)

    return convert(params)  # type: ignore[return-value]


def _training_info(events_path: Path, step: int, swa: bool) -> TrainingInfo:
    """training_params from the job's events: the last train report and test up to `step`."""
    train: dict = {}
    test: dict = {}
    if events_path.exists():
        for line in events_path.read_text().splitlines():
            event = json.loads(line)
            if event.get("step", 0) > step:
                continue
            if event["kind"] == "train":
                train = event["metrics"]
            elif event["kind"] == "test" and (event.get("weights") == "swa") == swa:
                test = event["metrics"]
    return TrainingInfo(
        steps=step,
        learning_rate=train.get("learning_rate"),
        policy_loss=test.get("policy_loss"),
        mse_loss=test.get("value_mse"),
        accuracy=test.get("policy_accuracy"),
    )
