"""The jitted train, evaluation and SWA steps over the device mesh.

`train(state, sums, batch) -> (state, sums)` is pure: it splits the batch into
`num_batch_splits` micro-batches, averages their gradients, unscales (FP16), clips and
applies one optimizer update, and adds this step's metrics to on-device running sums, so
steps between reports transfer nothing to the host. `train_and_report` is the same step
compiled with its static report flag set: it also returns the step's learning rate and
per-parameter update ratios, computed on device from the weights before and after the
update. `evaluate(params, batch)` computes per-batch means; `swa_update(state)` folds the
current weights into the SWA average; `finite(state)` is one on-device reduction saying
whether every float in the state is finite.
"""

from __future__ import annotations

import functools
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx
from jax.sharding import Mesh

from workers.training import losses
from workers.config.problems import ConfigError
from workers.config.resolve import ResolvedJob
from workers.data.policy_map import POLICY_MOVES
from workers.data.v6 import DecodedBatch
from workers.config.loss_settings import AUX_TERMS, LossSettings
from workers.model.gating import project_gates
from workers.training.regularization import l2_term
from workers.seeds import derive_seed
from workers.training.optim import Schedule
from workers.training.sharding import batch_sharding, metrics_sharding
from workers.training.state import LossScale, Params, TrainState, param_path

Metrics = dict[str, jax.Array]

# Every term's unweighted mean, then the totals and diagnostics, summed between reports.
LOSS_TERMS = ("policy_loss", "value_winner_loss", "value_q_loss", "value_loss", "moves_left_loss", "reg_loss", "total_loss", "value_mse",
              "policy_zero_target_rows")
STEP_METRICS = ("grad_norm", "nonfinite_steps")
# Reported as counts over the window, not means.
TOTALS = ("policy_zero_target_rows", "nonfinite_steps", "policy_opponent_no_move_rows", "policy_next_no_move_rows")
DYNAMIC_SCALE_PERIOD = 2000


class Batch(NamedTuple):
    """The arrays one step consumes (host arrays until placed on the mesh); leading axis =
    positions, split over the mesh (`data` × `fsdp`)."""

    planes: jax.Array  # [B, 112, 8, 8] float32
    policy: jax.Array  # [B, 1858], -1 = illegal
    result_wdl: jax.Array  # [B, 3] game result z
    q_wdl: jax.Array  # [B, 3] search value q of the configured source
    plies_left: jax.Array  # [B]
    st_wdl: jax.Array  # [B, 3] short-term value target (V7; zeros for V6 records)
    opp_idx: jax.Array  # [B] int32 policy index of the opponent's reply; NO_MOVE if none
    next_idx: jax.Array  # [B] int32 policy index of our next move; NO_MOVE if none

    @classmethod
    def from_decoded(cls, decoded: DecodedBatch, q_from_root: bool = False, needs_v7: tuple[str, ...] = ()) -> "Batch":
        """The training arrays of a `workers.data.v6.DecodedBatch`; q from best move or root.

        `needs_v7` names the loss terms whose targets only V7 records carry: a V6 record then
        raises a ConfigError pointing to `lc0-train data rescore`."""
        q = np.asarray(decoded.root_q if q_from_root else decoded.best_q)
        d = np.asarray(decoded.root_d if q_from_root else decoded.best_d)
        q_st, d_st = np.asarray(decoded.q_st), np.asarray(decoded.d_st)
        v6 = np.isnan(q_st) | np.isnan(d_st)
        if needs_v7 and v6.any():
            raise ConfigError([("training.loss_weights",
                                f"the terms {', '.join(needs_v7)} of the model's heads train on V7 targets (short-term value, future moves), but "
                                f"{int(v6.sum())} of {len(v6)} records in a batch are V6; convert the data with "
                                "`lc0-train data rescore INPUT... --out DIR`")])
        # tf-214's WDL of (q_st, d_st): q clipped to [-1, 1] and d to [0, 1].
        q_st, d_st = np.clip(np.nan_to_num(q_st), -1.0, 1.0), np.clip(np.nan_to_num(d_st), 0.0, 1.0)
        return cls._make([np.asarray(decoded.planes), np.asarray(decoded.policy), np.asarray(decoded.result_wdl), _wdl(q, d),
                          np.asarray(decoded.plies_left), _wdl(q_st, d_st),
                          np.asarray(decoded.opp_played_idx, np.int32), np.asarray(decoded.next_played_idx, np.int32)])


def _wdl(q: np.ndarray, d: np.ndarray) -> np.ndarray:
    """[(1 + q − d)/2, d, (1 − q − d)/2] float32 [B, 3]."""
    return np.stack([(1.0 + q - d) / 2.0, d, (1.0 - q - d) / 2.0], axis=-1).astype(np.float32)


class StepFunctions(NamedTuple):
    train: Callable[[TrainState, Metrics, Batch], tuple[TrainState, Metrics]]
    train_and_report: Callable[[TrainState, Metrics, Batch], tuple[TrainState, Metrics, Metrics]]
    evaluate: Callable[[Params, Params, Batch], Metrics]
    zero_sums: Callable[[], Metrics]
    swa_update: Callable[[TrainState], TrainState]
    finite: Callable[[TrainState], jax.Array]


def _forward(graphdef: nnx.GraphDef, params: Params, batch_stats: Params, batch: Batch, settings: LossSettings,
             train: bool, dropout_key: jax.Array | None = None) -> tuple[jax.Array, tuple[Metrics, Params]]:
    """Total weighted loss, (every term's unweighted mean plus the evaluation metrics, new batch statistics).

    In training mode batch norm normalises with batch statistics and updates its moving
    statistics; in evaluation mode it uses the moving statistics.
    """
    model = nnx.merge(graphdef, params, batch_stats, copy=True)
    model.train() if train else model.eval()
    out = model(batch.planes) if dropout_key is None else model(batch.planes, rngs=nnx.Rngs(dropout=dropout_key))
    targets = losses.Targets(batch.policy, batch.result_wdl, batch.q_wdl, batch.plies_left)
    log_probs = losses.policy_log_probs(out.policy_logits, batch.policy, settings.mask_legal_moves)
    policy, zero_rows = losses.policy_loss(log_probs, batch.policy, kl=settings.policy_kl)
    value_target = losses.mixed_value_target(targets, settings.q_ratio)
    aux_terms, aux_metrics = _aux_terms(out, batch, settings, log_probs)
    if out.wdl_logits is not None:
        value_loss = functools.partial(losses.value_cross_entropy, out.wdl_logits)
        # tf-214 with a q head: value MSE and accuracy are the q head's against q.
        value_metrics = (losses.wdl_metrics(out.aux_value["q"].wdl_logits, batch.q_wdl) if settings.q_head
                         else losses.wdl_metrics(out.wdl_logits, value_target))
    else:  # classical tanh head (the legacy code crashed on this path)
        value_loss = functools.partial(losses.scalar_value_mse, out.value)
        value_metrics = {"value_mse": losses.scalar_value_mse(out.value, value_target) / 4.0}
    terms = {
        "policy_loss": policy,
        "value_winner_loss": value_loss(batch.result_wdl),
        "value_q_loss": losses.value_cross_entropy(out.aux_value["q"].wdl_logits, batch.q_wdl) if settings.q_head else value_loss(batch.q_wdl),
        "moves_left_loss": jnp.zeros((), jnp.float32),
        "reg_loss": l2_term(params),
    }
    metrics = {**losses.policy_metrics(log_probs, batch.policy), **value_metrics}
    if out.moves_left is not None:
        terms["moves_left_loss"] = losses.moves_left_huber(out.moves_left, batch.plies_left)
        metrics["moves_left_mean_error"] = jnp.mean(jnp.abs(out.moves_left - batch.plies_left))
    total = (settings.policy * terms["policy_loss"] + settings.value_winner * terms["value_winner_loss"]
             + settings.value_q * terms["value_q_loss"] + settings.moves_left * terms["moves_left_loss"] + settings.reg * terms["reg_loss"])
    total += sum((weight * aux_terms[f"{name}_loss"] for name, weight in settings.aux), jnp.zeros((), jnp.float32))
    metrics |= {**terms, **aux_terms, **aux_metrics, "value_loss": value_loss(value_target), "total_loss": total, "policy_zero_target_rows": zero_rows}
    return total, (metrics, nnx.to_pure_dict(nnx.state(model, nnx.BatchStat)))


def _aux_terms(out: object, batch: Batch, settings: LossSettings, vanilla_log_probs: jax.Array) -> tuple[Metrics, Metrics]:
    """(unweighted mean of every reported auxiliary term as `<term>_loss`; rows without a future
    move and the vanilla-to-optimistic policy KL `policy_optimistic_st_kld`)."""
    policy, value = getattr(out, "aux_policy", {}), getattr(out, "aux_value", {})
    targets = {"q": batch.q_wdl, "st": batch.st_wdl}
    terms: Metrics = {}
    counts: Metrics = {}
    for term, _ in settings.aux:
        kind, name, output = AUX_TERMS[term]
        if kind == "policy" and name in ("opponent", "next"):
            index = batch.opp_idx if name == "opponent" else batch.next_idx
            terms[f"{term}_loss"], counts[f"{term}_no_move_rows"] = losses.move_index_loss(policy[name], index, len(POLICY_MOVES))
        elif kind == "policy":
            weights, temperature = None, 1.0
            log_probs = losses.policy_log_probs(policy[name], batch.policy, settings.mask_legal_moves)
            if name == "optimistic_st":
                weights = losses.optimistic_weights(batch.st_wdl, value["st"].wdl_logits, value["st"].err)
                counts["policy_optimistic_st_kld"] = losses.policy_kld(vanilla_log_probs, log_probs)
            else:  # soft
                temperature = settings.heads.soft_temperature
            terms[f"{term}_loss"] = losses.policy_loss(log_probs, batch.policy, kl=True, temperature=temperature, weights=weights)[0]
        elif output == "err":
            terms[f"{term}_loss"] = losses.value_error_loss(value[name].err, value[name].wdl_logits, targets[name])
        elif output == "cat":
            terms[f"{term}_loss"] = losses.value_categorical_loss(value[name].cat, targets[name])
        else:  # value_st
            terms[f"{term}_loss"] = losses.value_cross_entropy(value[name].wdl_logits, targets[name])
    return terms, counts


def metric_names(settings: LossSettings) -> tuple[str, ...]:
    """Every per-step loss metric of a job: the base terms plus those of its auxiliary heads."""
    counts = tuple(f"{name}_no_move_rows" for name, _ in settings.aux if name in ("policy_opponent", "policy_next"))
    kld = ("policy_optimistic_st_kld",) if "policy_optimistic_st" in dict(settings.aux) else ()
    return (*LOSS_TERMS, *(f"{name}_loss" for name, _ in settings.aux), *counts, *kld)


def _split(batch: Batch, splits: int) -> Batch:
    """[B, ...] → [splits, B/splits, ...] with micro-batch j = rows j, j+splits, ... so that every
    micro-batch keeps rows on every device (the batch sharding stays on the row axis)."""
    return jax.tree_util.tree_map(lambda x: jnp.swapaxes(x.reshape(x.shape[0] // splits, splits, *x.shape[1:]), 0, 1), batch)


def _next_loss_scale(scale: LossScale, finite: jax.Array, dynamic: bool, period: int) -> LossScale:
    if not dynamic:
        return scale
    grown = scale.good_steps + 1 >= period
    new_scale = jnp.where(finite, jnp.where(grown, scale.scale * 2.0, scale.scale), jnp.maximum(scale.scale / 2.0, 1.0))
    good = jnp.where(finite & ~grown, scale.good_steps + 1, 0)
    return LossScale(new_scale, good)


def update_ratios(before: Params, after: Params) -> Metrics:
    """Per-parameter ‖Δw‖/‖w‖ of one update (−1 where ‖w‖ = 0), keyed `update_ratio/<parameter path>`."""
    ratios = {}
    for (path, old), new in zip(jax.tree_util.tree_flatten_with_path(before)[0], jax.tree_util.tree_leaves(after)):
        norm = jnp.linalg.norm(old.ravel())
        ratios[f"update_ratio/{param_path(path)}"] = jnp.where(norm > 0, jnp.linalg.norm((new - old).ravel()) / norm, -1.0)
    return ratios


def all_finite(tree: object) -> jax.Array:
    """True when every floating-point value of `tree` is finite (one reduction, on device)."""
    leaves = [jnp.all(jnp.isfinite(x)) for x in jax.tree_util.tree_leaves(tree) if jnp.issubdtype(x.dtype, jnp.inexact)]
    return jnp.all(jnp.stack(leaves)) if leaves else jnp.bool_(True)


def make_step_functions(graphdef: nnx.GraphDef, tx: optax.GradientTransformation, schedule: Schedule, job: ResolvedJob, mesh: Mesh,
                        shardings: TrainState, dynamic_scale_period: int = DYNAMIC_SCALE_PERIOD) -> StepFunctions:
    """Jits the steps once with explicit shardings: the state's `shardings` (from the table in
    workers.training.sharding), the batch split over the mesh, metrics on every device."""
    weights, splits = job.losses, job.num_batch_splits
    # Dropout keys: fold_in(root, step), then the micro-batch index; one seed drives them all.
    dropout_root = jax.random.key(derive_seed(job.seed, "dropout")) if job.model.dropout_rate > 0 else None
    dynamic = job.precision.dynamic_loss_scale
    names = metric_names(weights)
    train_metrics = (*names, *STEP_METRICS)

    def train(state: TrainState, sums: Metrics, batch: Batch, report: bool) -> tuple[TrainState, Metrics] | tuple[TrainState, Metrics, Metrics]:
        scale = state.loss_scale.scale if state.loss_scale is not None else jnp.float32(1.0)

        step_key = jax.random.fold_in(dropout_root, state.step) if dropout_root is not None else None

        def scaled_loss(params: Params, batch_stats: Params, micro: Batch, key: jax.Array | None) -> tuple[jax.Array, tuple[Metrics, Params]]:
            total, (metrics, new_stats) = _forward(graphdef, params, batch_stats, micro, weights, train=True, dropout_key=key)
            return total * scale, ({name: metrics[name] for name in names}, new_stats)

        grad_fn = jax.grad(scaled_loss, has_aux=True)

        def accumulate(carry: tuple[Params, Metrics, Params], xs: tuple[Batch, jax.Array]) -> tuple[tuple[Params, Metrics, Params], None]:
            # Moving statistics are threaded through the micro-batches: updated once per micro-batch.
            grad_sum, metric_sum, batch_stats = carry
            micro, index = xs
            key = jax.random.fold_in(step_key, index) if step_key is not None else None
            grads, (metrics, batch_stats) = grad_fn(state.params, batch_stats, micro, key)
            return (jax.tree_util.tree_map(jnp.add, grad_sum, grads), jax.tree_util.tree_map(jnp.add, metric_sum, metrics), batch_stats), None

        zeros = (jax.tree_util.tree_map(jnp.zeros_like, state.params), {name: jnp.zeros((), jnp.float32) for name in names}, state.batch_stats)
        (grad_sum, metric_sum, batch_stats), _ = jax.lax.scan(accumulate, zeros, (_split(batch, splits), jnp.arange(splits)))
        grads = jax.tree_util.tree_map(lambda g: g / (splits * scale), grad_sum)
        metrics = {name: value if name in TOTALS else value / splits for name, value in metric_sum.items()}
        finite = jnp.all(jnp.asarray([jnp.all(jnp.isfinite(g)) for g in jax.tree_util.tree_leaves(grads)]))
        updates, opt_state = tx.update(grads, state.opt_state, state.params)
        # The legacy NonNeg constraint: a projection after the update, not a clamp in the forward pass.
        params = project_gates(optax.apply_updates(state.params, updates))
        if state.loss_scale is not None:
            # FP16: a non-finite gradient skips the update (and, when dynamic, halves the scale).
            params, opt_state = jax.tree_util.tree_map(lambda new, old: jnp.where(finite, new, old), (params, opt_state), (state.params, state.opt_state))
            state = state.replace(loss_scale=_next_loss_scale(state.loss_scale, finite, dynamic, dynamic_scale_period))
        # A skipped (non-finite) step adds 0 to the grad-norm sum rather than poisoning it.
        grad_norm = jnp.where(finite, optax.tree.norm(grads), 0.0)
        metrics |= {"grad_norm": grad_norm, "nonfinite_steps": 1.0 - finite.astype(jnp.float32)}
        new_sums = {name: sums[name] + metrics[name] for name in train_metrics} | {"count": sums["count"] + 1}
        new_state = state.replace(step=state.step + 1, params=params, opt_state=opt_state, batch_stats=batch_stats)
        if not report:
            return new_state, new_sums
        return new_state, new_sums, {"learning_rate": jnp.asarray(schedule(state.step), jnp.float32), **update_ratios(state.params, params)}

    def evaluate(params: Params, batch_stats: Params, batch: Batch) -> Metrics:
        return _forward(graphdef, params, batch_stats, batch, weights, train=False)[1][0]

    def zero_sums() -> Metrics:
        return {name: jnp.zeros((), jnp.float32) for name in (*train_metrics, "count")}

    def swa_update(state: TrainState) -> TrainState:
        # Legacy update_swa: swa ← swa·n/(n+1) + w/(n+1); n ← min(n+1, swa_max_n).
        # The average covers the parameters and the normalisation statistics alike.
        n = state.swa_count
        assert n is not None, "swa_update needs a state built with SWA"
        average = functools.partial(jax.tree_util.tree_map, lambda s, w: s * (n / (n + 1.0)) + w * (1.0 / (n + 1.0)))
        return state.replace(swa_params=average(state.swa_params, state.params), swa_batch_stats=average(state.swa_batch_stats, state.batch_stats),
                             swa_count=jnp.minimum(n + 1.0, float(job.swa.max_n if job.swa else 0)))

    metrics, rows = metrics_sharding(mesh), batch_sharding(mesh)
    batch_shardings = Batch._make(rows for _ in Batch._fields)
    train_in = (shardings, metrics, batch_shardings)
    return StepFunctions(
        train=jax.jit(functools.partial(train, report=False), in_shardings=train_in, out_shardings=(shardings, metrics), donate_argnums=(0, 1)),
        train_and_report=jax.jit(functools.partial(train, report=True), in_shardings=train_in, out_shardings=(shardings, metrics, metrics),
                                 donate_argnums=(0, 1)),
        # The raw and the SWA weights have the same shapes, hence the same shardings.
        evaluate=jax.jit(evaluate, in_shardings=(shardings.params, shardings.batch_stats, batch_shardings), out_shardings=metrics),
        zero_sums=jax.jit(zero_sums, out_shardings=metrics),
        swa_update=jax.jit(swa_update, in_shardings=(shardings,), out_shardings=shardings, donate_argnums=(0,)),
        finite=jax.jit(all_finite, in_shardings=(shardings,), out_shardings=metrics),
    )
