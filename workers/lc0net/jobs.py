"""A training job's lc0 interop: nets exported at each checkpoint, weights to start from.

`JobExporter` writes `<job>/nets/<step>.pb.gz` (and `<step>-swa.pb.gz`) when the trainer
saves a checkpoint; it follows the event bus for the learning rate and test losses it
records in `training_params`. `initial_params` loads `init_from` weights (and a ResNet's
batch statistics). Whether the model can be exported and whether `init_from` holds the same
architecture are job rules, checked by `workers.config.resolve` with `export_problem` and
`init_from_problem`.
"""

from __future__ import annotations

from pathlib import Path

import jax
import numpy as np

from lc0train import model_pb2

from workers.config.problems import ConfigError
from workers.events import Event
from workers.lc0net.architecture import network_format
from workers.lc0net.export import TrainingInfo, export_net
from workers.lc0net.mapping import Params, merge_trees, select_like
from workers.lc0net.netfile import write_net
from workers.layout import JobPaths
from workers.lc0net.store import load_stored, stored_config
from workers.model.batchnorm import BN_EPSILON
from workers.model.errors import ModelConfigError
from workers.model.head_layout import HeadLayout
from workers.model.resolved import ResolvedModel
from workers.training.sharding import to_host

AUX_GROUPS = ("aux_policy", "aux_value")  # BTNet's parameter groups of auxiliary heads


class JobExporter:
    """Exports the raw (and SWA) weights of each checkpoint as lc0 networks."""

    def __init__(self, model: ResolvedModel, paths: JobPaths):
        self.model = model.config
        self.paths = paths
        self._learning_rate: float | None = None
        self._tests: dict[bool, dict[str, float]] = {}

    def observe(self, event: Event) -> None:
        """EventBus subscriber: keeps the latest learning rate and test metrics."""
        if event.kind == "train":
            self._learning_rate = event.metrics.get("learning_rate", self._learning_rate)
        elif event.kind == "test":
            self._tests[event.info.get("weights") == "swa"] = event.metrics

    def export(self, step: int, weights: tuple[Params, Params], swa_weights: tuple[Params, Params] | None) -> None:
        """Writes the nets of `step` from (params, batch_stats) pairs, raw and SWA. Every
        process calls it (the weights may be sharded over processes); the first writes."""
        weights, swa_weights = to_host((weights, swa_weights))
        if jax.process_index() != 0:
            return
        for swa, pair in ((False, weights), (True, swa_weights)):
            if pair is None:
                continue
            test = self._tests.get(swa, {})
            info = TrainingInfo(
                steps=step,
                learning_rate=self._learning_rate,
                policy_loss=test.get("policy_loss"),
                mse_loss=test.get("value_mse"),
                accuracy=test.get("policy_accuracy"),
            )
            net = export_net(self.model, merge_trees(pair[0], pair[1] or {}), info)
            write_net(net, self.paths.net(step, swa))


def export_problem(model: ResolvedModel) -> str | None:
    """Why lc0 cannot run `model` (None: it can)."""
    try:
        network_format(model.config)
    except ValueError as err:
        return f"the model cannot be exported to lc0: {err}"
    return None


def init_from_problem(path: Path, model: ResolvedModel) -> str | None:
    """Why the net at `path` cannot initialise `model` (None: it can). A path this host
    cannot see is left to the workers, whose `initial_params` names it."""
    if not path.exists():
        return None
    try:
        stored = ResolvedModel.from_config(stored_config(path))
    except ModelConfigError as err:
        return f"{path} holds no valid model: {err}"
    except ValueError as err:
        return str(err)
    differences = _architecture_differences(stored, model)
    return f"{path} has another architecture: {'; '.join(differences)}" if differences else None


def initial_params(init_from: Path | None, params: Params, batch_stats: Params | None = None) -> tuple[Params, Params]:
    """(params, batch_stats): fresh or, with `init_from`, the stored ones (the job's resolution
    checked that they have the job's architecture).

    Auxiliary heads may differ: heads both have are loaded, the job's other heads start
    fresh and the stored net's other heads are dropped (lc0 plays without them).

    Batch-renorm statistics a stored net lacks follow the legacy importer: the moving σ is
    √(var + ε) and the renorm EMAs keep their initial values.
    """
    batch_stats = batch_stats or {}
    if init_from is None:
        return params, batch_stats
    try:
        stored = load_stored(init_from)
    except ValueError as err:
        raise ConfigError([("init_from.path", str(err))]) from err
    loaded = jax.tree.map(lambda fresh, value: np.asarray(value, fresh.dtype), params, select_like(_with_heads(params, stored.params), params))
    return loaded, _stored_stats(batch_stats, stored.params)


def _stored_stats(fresh: Params, stored: Params) -> Params:
    out: Params = {}
    for key, value in fresh.items():
        if isinstance(value, dict):
            out[key] = _stored_stats(value, stored[key])
        elif key in stored:
            out[key] = np.asarray(stored[key], value.dtype)
        elif key == "stddev":
            out[key] = np.sqrt(np.asarray(stored["var"], value.dtype) + BN_EPSILON)
        else:
            out[key] = value
    return out


def _value_outputs(heads: HeadLayout) -> tuple[bool, int]:
    return heads.error_outputs, heads.categorical_buckets


def _with_heads(fresh: Params, stored: Params) -> Params:
    """`stored` with exactly `fresh`'s auxiliary heads, taken from `stored` where it has them."""
    merged = {key: value for key, value in stored.items() if key not in AUX_GROUPS}
    for group in AUX_GROUPS:
        heads = {name: stored.get(group, {}).get(name, head) for name, head in fresh.get(group, {}).items()}
        if heads:
            merged[group] = heads
    return merged


def _architecture_differences(stored: ResolvedModel, model: ResolvedModel) -> list[str]:
    names = model_pb2.Body.Name
    if stored.config.body != model.config.body:
        return [f"model body {names(model.config.body)} vs {names(stored.config.body)}"]
    ours, theirs = model.dims, stored.dims
    fields = [name for name in ours.__dataclass_fields__ if name != "bn"]  # BN training settings may differ
    problems = [
        f"model {name} {getattr(ours, name)} vs {getattr(theirs, name)}"
        for name in fields
        if getattr(ours, name) != getattr(theirs, name)
    ]
    ours_outputs, their_outputs = _value_outputs(model.heads), _value_outputs(stored.heads)
    if set(model.heads.aux_value) & set(stored.heads.aux_value) and ours_outputs != their_outputs:
        problems.append(f"model (value_error_outputs, categorical_value_buckets) of the shared q/st value heads "
                        f"{ours_outputs} vs {their_outputs}")
    if stored.input_type != model.input_type:
        names = model_pb2.InputType.Name
        problems.append(f"model input_type {names(model.input_type)} vs {names(stored.input_type)}")
    return problems
