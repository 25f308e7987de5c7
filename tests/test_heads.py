"""BT-era multi-head layout: auxiliary-head loss terms against NumPy, validation, V7 targets, export."""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from lc0train import net_pb2
from tests.helpers import ALL_HEADS, DATA, ROOT, SHRINK, TINY_CONFIG
from workers.training import losses
from workers.config.problems import ConfigError
from workers.config.resolve import resolve
from workers.config.spec import load_spec
from workers.data.files import read_chunk
from workers.data.rescore import rescore_files, rescore_records
from workers.data.v6 import NO_MOVE, decode_records
from workers.events import EventBus
from workers.lc0net.evaluate import inference_model
from workers.lc0net.export import TrainingInfo, export_net
from workers.lc0net.importer import import_net
from workers.lc0net.jobs import init_from_problem, initial_params
from workers.lc0net.netfile import NetFileError, read_net, write_net
from workers.lc0net.store import save_imported
from workers.config.loss_settings import LossSettings, head_terms
from workers.model import build_model
from workers.model.head_layout import HeadLayout
from workers.model.heads import ValueOutput
from workers.model.transformer import ModelOutput
from workers.training.setup import build_training
from workers.training.sharding import to_global_batch
from workers.training.state import init_params
from workers.training.step import Batch, _aux_terms, metric_names
from workers.layout import JobPaths
from workers.training.loop import run_training

B, MOVES, K = 4, 1858, 5
RNG = np.random.default_rng(7)


def _policy_target() -> np.ndarray:
    """Row 0 ordinary, row 1 one legal move, row 2 legal moves with all-zero targets, row 3 ordinary."""
    target = np.full((B, MOVES), -1.0)
    for row, legal in enumerate([[3, 10, 500, 1800], [42], [7, 8, 9], [0, 100, 1857]]):
        probs = RNG.random(len(legal)) if row != 2 else np.zeros(len(legal))
        target[row, legal] = probs / probs.sum() if probs.sum() else probs
    return target


POLICY = _policy_target()
ST_WDL = np.array([[0.65, 0.2, 0.15], [0.0, 0.1, 0.9], [0.1, 0.8, 0.1], [1.0, 0.0, 0.0]])
Q_WDL = np.array([[0.2, 0.5, 0.3], [0.0, 0.0, 1.0], [0.55, 0.45, 0.0], [0.3, 0.3, 0.4]])
OPP = np.array([5, NO_MOVE, 1857, 77])
NEXT = np.array([NO_MOVE, 12, NO_MOVE, 1000])
HEADS = HeadLayout(("optimistic_st", "soft", "opponent", "next"), ("q", "st"), True, K, 4.0)


def _log_softmax(x: np.ndarray) -> np.ndarray:
    x = x - x.max(axis=-1, keepdims=True)
    return x - np.log(np.exp(x).sum(axis=-1, keepdims=True))


def _np_kl(logits: np.ndarray, mask: bool, temperature: float = 1.0, weights: np.ndarray | None = None) -> float:
    logp = _log_softmax(np.where(POLICY >= 0, logits, -1e10) if mask else logits)
    rows = []
    for i, y in enumerate(np.maximum(POLICY, 0.0)):
        if y.sum() == 0:
            continue
        p = y ** (1.0 / temperature)
        p = p / p.sum()
        nz = p > 0
        rows.append((1.0 if weights is None else weights[i]) * np.sum(p[nz] * (np.log(p[nz]) - logp[i, nz])))
    return float(np.mean(rows))


def _np_score(wdl: np.ndarray) -> np.ndarray:
    return wdl[:, 0] - wdl[:, 2]


def _np_softmax(x: np.ndarray) -> np.ndarray:
    return np.exp(_log_softmax(x))


def _np_optimistic_weights(st_logits: np.ndarray, st_err: np.ndarray) -> np.ndarray:
    z = (_np_score(ST_WDL) - _np_score(_np_softmax(st_logits))) / (np.sqrt(st_err) + 1e-5)
    return 1.0 / (1.0 + np.exp(-3.0 * (z - 2.0)))


def _np_move_ce(logits: np.ndarray, index: np.ndarray) -> float:
    logp = _log_softmax(logits)
    rows = [-logp[i, m] for i, m in enumerate(index) if m != NO_MOVE]
    return float(np.mean(rows)) if rows else 0.0


def _np_err(err: np.ndarray, wdl_logits: np.ndarray, target: np.ndarray) -> float:
    return float(np.mean((err - (_np_score(target) - _np_score(_np_softmax(wdl_logits))) ** 2) ** 2))


def _np_cat(cat_logits: np.ndarray, target: np.ndarray) -> float:
    s = np.clip(_np_score(target), -1.0, 1.0 - 1e-9)  # float64: 1 − 1e-9 stays below 1
    bucket = np.floor((s + 1.0) / 2.0 * cat_logits.shape[-1]).astype(int)
    return float(np.mean(-_log_softmax(cat_logits)[np.arange(len(bucket)), bucket]))


def _outputs() -> dict[str, np.ndarray]:
    return {
        **{f"pol_{name}": RNG.standard_normal((B, MOVES)) for name in ("vanilla", *HEADS.aux_policy)},
        **{f"{name}_wdl": RNG.standard_normal((B, 3)) for name in ("q", "st")},
        **{f"{name}_err": RNG.uniform(0.05, 0.9, B) for name in ("q", "st")},
        **{f"{name}_cat": RNG.standard_normal((B, K)) for name in ("q", "st")},
    }


OUT = _outputs()


def _terms(arrays: dict[str, jax.Array], mask: bool = True) -> dict[str, jax.Array]:
    out = ModelOutput(
        jnp.zeros((B, MOVES)), jnp.zeros((B, 3)), jnp.zeros(B),
        aux_policy={name: arrays[f"pol_{name}"] for name in HEADS.aux_policy},
        aux_value={name: ValueOutput(arrays[f"{name}_wdl"], arrays[f"{name}_err"], arrays[f"{name}_cat"]) for name in ("q", "st")},
    )
    batch = Batch(jnp.zeros((B, 112, 8, 8)), jnp.asarray(POLICY, jnp.float32), jnp.zeros((B, 3)), jnp.asarray(Q_WDL, jnp.float32),
                  jnp.zeros(B), jnp.asarray(ST_WDL, jnp.float32), jnp.asarray(OPP, jnp.int32), jnp.asarray(NEXT, jnp.int32))
    vanilla = losses.policy_log_probs(arrays["pol_vanilla"], batch.policy, mask)
    terms, extra = _aux_terms(out, batch, _settings(mask), vanilla)
    return terms | extra


def _settings(mask: bool = True) -> LossSettings:
    return LossSettings(1, 1, 1, 1, 1, policy_kl=True, mask_legal_moves=mask, q_from_root=True, heads=HEADS,
                        aux=tuple((term, 1.0) for term in head_terms(HEADS)))


def _numeric_grad(f: Callable[[np.ndarray], float], x: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    grad = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        up, down = x.copy(), x.copy()
        up[index] += eps
        down[index] -= eps
        grad[index] = (f(up) - f(down)) / (2 * eps)
    return grad


# term → (output it differentiates, NumPy reference of the term as a function of that output)
REFERENCES: dict[str, tuple[str, Callable[[np.ndarray], float]]] = {
    "policy_soft_loss": ("pol_soft", lambda x: _np_kl(x, True, temperature=4.0)),
    "policy_optimistic_st_loss": ("pol_optimistic_st", lambda x: _np_kl(x, True, weights=_np_optimistic_weights(OUT["st_wdl"], OUT["st_err"]))),
    "policy_opponent_loss": ("pol_opponent", lambda x: _np_move_ce(x, OPP)),
    "policy_next_loss": ("pol_next", lambda x: _np_move_ce(x, NEXT)),
    "value_st_loss": ("st_wdl", lambda x: float(np.mean(-np.sum(ST_WDL * _log_softmax(x), axis=-1)))),
    "value_q_err_loss": ("q_err", lambda x: _np_err(x, OUT["q_wdl"], Q_WDL)),
    "value_st_err_loss": ("st_err", lambda x: _np_err(x, OUT["st_wdl"], ST_WDL)),
    "value_q_cat_loss": ("q_cat", lambda x: _np_cat(x, Q_WDL)),
    "value_st_cat_loss": ("st_cat", lambda x: _np_cat(x, ST_WDL)),
    "policy_optimistic_st_kld": ("pol_optimistic_st", lambda x: _np_post_kld(OUT["pol_vanilla"], x)),
}


def _np_post_kld(vanilla: np.ndarray, optimistic: np.ndarray) -> float:
    """tf-214's POST KLD: KL(softmax(masked vanilla) ‖ softmax(masked optimistic))."""
    log_p = _log_softmax(np.where(POLICY >= 0, vanilla, -1e10))
    log_q = _log_softmax(np.where(POLICY >= 0, optimistic, -1e10))
    p = np.exp(log_p)
    return float(np.mean(np.sum(np.where(p > 0, p * (log_p - log_q), 0.0), axis=-1)))


@pytest.mark.parametrize("term", sorted(REFERENCES))
def test_aux_term_value_and_gradient_match_numpy(term: str) -> None:
    output, reference = REFERENCES[term]

    def loss(x: jax.Array) -> jax.Array:
        arrays = {k: jnp.asarray(v, jnp.float32) for k, v in OUT.items()} | {output: x}
        return _terms(arrays)[term]

    value, grad = jax.value_and_grad(loss)(jnp.asarray(OUT[output], jnp.float32))
    assert float(value) == pytest.approx(reference(OUT[output]), rel=1e-5, abs=1e-6)
    x = OUT[output]
    if x.shape[-1] == MOVES:  # differentiate the rows' legal moves and a few others (full width is slow)
        cols = sorted({*np.flatnonzero((POLICY >= 0).any(axis=0)), 5, 12, 77, 1000, 1857, 900})
        numeric = _numeric_grad(lambda sub: reference(_put(x, cols, sub)), x[:, cols])
        np.testing.assert_allclose(np.asarray(grad)[:, cols], numeric, atol=2e-6)
    else:
        np.testing.assert_allclose(np.asarray(grad), _numeric_grad(reference, x), atol=2e-6)
    assert np.isfinite(np.asarray(grad)).all()


def _put(x: np.ndarray, cols: list[int], sub: np.ndarray) -> np.ndarray:
    y = x.copy()
    y[:, cols] = sub
    return y


def test_rows_without_a_future_move_give_no_loss_and_no_gradient() -> None:
    grad = jax.grad(lambda x: _terms({**{k: jnp.asarray(v, jnp.float32) for k, v in OUT.items()}, "pol_next": x})["policy_next_loss"])(
        jnp.asarray(OUT["pol_next"], jnp.float32))
    assert not np.asarray(grad)[NEXT == NO_MOVE].any() and np.asarray(grad)[NEXT != NO_MOVE].any()
    loss, missing = losses.move_index_loss(jnp.ones((3, MOVES)), jnp.full(3, NO_MOVE), MOVES)
    assert float(loss) == 0.0 and float(missing) == 3.0


def test_optimistic_weights_and_error_targets_carry_no_gradient_into_the_value_head() -> None:
    """The optimistic weights and the error target ŝ are gradient-stopped (tf-214)."""
    def total(x: jax.Array) -> jax.Array:
        terms = _terms({**{k: jnp.asarray(v, jnp.float32) for k, v in OUT.items()}, "st_wdl": x})
        return terms["policy_optimistic_st_loss"] + terms["value_st_err_loss"]

    assert not np.asarray(jax.grad(total)(jnp.asarray(OUT["st_wdl"], jnp.float32))).any()


def test_a_won_target_falls_in_the_last_categorical_bucket() -> None:
    wdl = jnp.asarray([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, 1.0, 0.0], [0.5, 0.0, 0.5]])
    assert np.asarray(losses.value_buckets(wdl, 4)).tolist() == [3, 0, 2, 2]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["training.loss_weights.policy=1", "training.loss_weights.value_st_err=1", "model.aux_value_heads=[VALUE_HEAD_ST]"],
         r"training\.loss_weights\.value_st_err: requires the st value head's err output \(model\.value_error_outputs\)"),
        (["training.loss_weights.policy=1", "training.loss_weights.policy_next=1"],
         r"training\.loss_weights\.policy_next: requires the next policy head \(POLICY_HEAD_NEXT in model\.aux_policy_heads\)"),
        (["training.loss_weights.value_q_cat=1", "model.aux_value_heads=[VALUE_HEAD_Q]"],
         r"training\.loss_weights\.value_q_cat: requires the q value head's cat output"),
        (["training.loss_weights.policy_optimistic_st=1", "model.aux_policy_heads=[POLICY_HEAD_OPTIMISTIC_ST]", "model.aux_value_heads=[VALUE_HEAD_ST]"],
         r"training\.loss_weights\.policy_optimistic_st: requires the st value head with its err output \(for the sample weights"),
        (["model.aux_value_heads=[VALUE_HEAD_Q, VALUE_HEAD_Q]"], r"model\.aux_value_heads: lists a head more than once"),
        (["model.soft_policy_temperature=2"], r"model\.soft_policy_temperature: requires POLICY_HEAD_SOFT"),
        (["model.categorical_value_buckets=1", "model.aux_value_heads=[VALUE_HEAD_Q]"], r"model\.categorical_value_buckets: is 1"),
        (["model.body=BODY_RESNET", "model.filters=8", "model.residual_blocks=1", "model.aux_value_heads=[VALUE_HEAD_Q]"],
         r"model\.body: must be BODY_TRANSFORMER for the multi-head fields"),
    ],
)
def test_heads_and_terms_are_validated_with_their_path(overrides: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        resolve(load_spec(TINY_CONFIG, overrides))


def test_v6_records_for_heads_that_need_v7_targets_point_to_rescore() -> None:
    raw = read_chunk(DATA / "lc0-selfplay" / "game_000001.gz")[:8]
    needs = _settings().needs_v7
    assert set(needs) == {"policy_optimistic_st", "policy_opponent", "policy_next", "value_st", "value_st_err", "value_st_cat"}
    with pytest.raises(ConfigError, match=r"8 of 8 records in a batch are V6; convert the data with `lc0-train data rescore"):
        Batch.from_decoded(decode_records(raw), True, needs)
    Batch.from_decoded(decode_records(raw), True, ())  # heads without V7 targets train on V6 data
    rescored = rescore_records(raw)
    batch = Batch.from_decoded(decode_records(rescored), True, needs)
    fields = rescored.view(np.uint8).reshape(8, -1)
    decoded = decode_records(fields)
    q, d = np.clip(decoded.q_st, -1, 1), np.clip(decoded.d_st, 0, 1)
    np.testing.assert_allclose(batch.st_wdl, np.stack([(1 + q - d) / 2, d, (1 - q - d) / 2], -1), rtol=1e-6)
    np.testing.assert_array_equal(batch.opp_idx, decoded.opp_played_idx)
    np.testing.assert_array_equal(batch.next_idx[:-2], decoded.next_played_idx[:-2])


@pytest.mark.slow
def test_multihead_config_trains_50_steps_on_rescored_data_with_every_term_finite(tmp_path) -> None:

    games = sorted((DATA / "lc0-selfplay").glob("game_*.gz"))
    rescore_files([str(p) for p in games[:4]], tmp_path / "train")
    rescore_files([str(games[4])], tmp_path / "test")
    overrides = [*SHRINK, "model.encoder_d_model=", "model.policy_embedding_size=", "model.policy_d_model=", "model.value_embedding_size=4",
                 "model.moves_left_embedding_size=2", "model.categorical_value_buckets=8", "training.batch_size=32", "training.shuffle_size=256",
                 "training.total_steps=50", "training.train_avg_report_steps=25", "training.test_steps=50", "training.checkpoint_steps=0",
                 "training.num_test_positions=32", "training.warmup_steps=5", f"dataset.input_train={tmp_path / 'train'}",
                 f"dataset.input_test={tmp_path / 'test'}", "export.enabled=false"]
    job = resolve(load_spec(ROOT / "configs" / "bt_multihead.textproto", overrides))
    names = metric_names(job.losses)
    assert {f"{term}_loss" for term in ("policy_optimistic_st", "policy_soft", "policy_opponent", "policy_next", "value_st",
                                        "value_q_err", "value_q_cat", "value_st_err", "value_st_cat")} <= set(names)
    reports = []
    bus = EventBus()
    bus.subscribe(lambda event: reports.append(event) if event.kind == "train" else None)
    run_training(job, JobPaths(tmp_path / "job"), bus)
    assert [r.step for r in reports] == [25, 50]
    for report in reports:
        for name in names:
            assert np.isfinite(report.metrics[name]), name
    first, last = reports[0].metrics, reports[-1].metrics
    assert last["total_loss"] < first["total_loss"]


@pytest.mark.slow
def test_every_head_exports_to_lc0_slots_and_round_trips(tmp_path) -> None:
    config = resolve(load_spec(TINY_CONFIG, list(ALL_HEADS))).model.config
    params = nnx.to_pure_dict(nnx.state(build_model(config, seed=3)))
    write_net(export_net(config, params, TrainingInfo(steps=1)), tmp_path / "a.pb.gz")
    net = read_net(tmp_path / "a.pb.gz")
    heads = net.weights.policy_heads
    for name in ("vanilla", "optimistic_st", "soft", "opponent"):
        assert getattr(heads, name).ip2_pol_b.params and getattr(heads, name).ip4_pol_w.params, name
    assert [entry.key for entry in heads.policy_head_map] == ["next"] and heads.policy_head_map[0].value.ip3_pol_w.params
    for name in ("q", "st"):
        head = getattr(net.weights.value_heads, name)
        assert head.ip2_val_b.params and head.ip_val_err_b.params and len(head.ip_val_cat_b.params) == 2 * 6, name
    assert not net.weights.value_heads.winner.ip_val_err_w.params

    first = import_net(net)  # LINEAR16-quantised weights
    assert HeadLayout.from_config(first.config) == HeadLayout.from_config(config) and first.ignored == ()
    write_net(export_net(first.config, first.params, TrainingInfo(steps=2)), tmp_path / "b.pb.gz")
    second = import_net(read_net(tmp_path / "b.pb.gz"))
    planes = jnp.asarray(RNG.integers(0, 2, (3, 112, 8, 8)), jnp.float32)
    a, b = inference_model(first.config, first.params)(planes), inference_model(second.config, second.params)(planes)
    assert set(a.aux_policy) == {"optimistic_st", "soft", "opponent", "next"} and set(a.aux_value) == {"q", "st"}
    leaves_a, leaves_b = jax.tree.leaves(a), jax.tree.leaves(b)
    assert len(leaves_a) == len(leaves_b) == 3 + 4 + 2 * 3
    for x, y in zip(leaves_a, leaves_b, strict=True):
        np.testing.assert_allclose(np.asarray(y), np.asarray(x), atol=1e-5, rtol=1e-5)
    # The quantisation itself moves every auxiliary-head parameter by at most one LINEAR16 step of its tensor.
    for path, before in jax.tree_util.tree_flatten_with_path({k: params[k] for k in ("aux_policy", "aux_value")})[0]:
        after = first.params
        for key in path:
            after = after[key.key]
        step = (np.max(before) - np.min(before)) / 65535
        assert np.abs(np.asarray(after) - np.asarray(before)).max() <= step * 1.01 + 1e-7, path
    # A file whose q and st heads have different outputs names both rather than a missing tensor.
    net.weights.value_heads.st.ClearField("ip_val_err_w")
    net.weights.value_heads.st.ClearField("ip_val_err_b")
    with pytest.raises(NetFileError, match=r"value_heads.q: error output True, 6 categorical buckets; value_heads.st: error output False"):
        import_net(net)


def test_init_from_loads_shared_heads_starts_new_ones_fresh_and_drops_the_rest(tmp_path) -> None:
    stored_job = resolve(load_spec(TINY_CONFIG, [*SHRINK, "model.aux_policy_heads=[POLICY_HEAD_OPTIMISTIC_ST]", "model.aux_value_heads=[VALUE_HEAD_Q]"]))
    stored = init_params(stored_job.model, seed=1)[1]
    save_imported(tmp_path / "stored", stored_job.model.config, stored, net_pb2.TrainingParams())
    job = resolve(load_spec(TINY_CONFIG, [*SHRINK, "model.aux_policy_heads=[POLICY_HEAD_SOFT]", "model.aux_value_heads=[VALUE_HEAD_Q]"]))
    fresh = init_params(job.model, seed=2)[1]
    assert init_from_problem(tmp_path / "stored", job.model) is None
    loaded, _ = initial_params(tmp_path / "stored", fresh)
    assert set(loaded["aux_policy"]) == {"soft"} and set(loaded["aux_value"]) == {"q"}
    assert _same(loaded["aux_value"]["q"], stored["aux_value"]["q"]) and _same(loaded["policy"], stored["policy"])
    assert _same(loaded["aux_policy"]["soft"], fresh["aux_policy"]["soft"])
    with pytest.raises(ConfigError, match=r"init_from.path: .*shared q/st value heads \(True, 0\) vs \(False, 0\)"):
        resolve(load_spec(TINY_CONFIG, [*SHRINK, "model.aux_value_heads=[VALUE_HEAD_Q]", "model.value_error_outputs=true",
                                        f"init_from.path={tmp_path / 'stored'}"]))


def _same(a: object, b: object) -> bool:
    return all(np.array_equal(x, y) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True))


@pytest.mark.slow
@pytest.mark.parametrize("bt_era", [True, False])
def test_value_q_trains_the_q_head_in_the_bt_era_and_the_winner_head_in_the_classic_lineage(bt_era: bool) -> None:
    weights = ["training.loss_weights.policy=1", "training.loss_weights.value_q=1"] if bt_era else ["training.q_ratio=0.5"]
    job = resolve(load_spec(TINY_CONFIG, [*SHRINK, "model.aux_value_heads=[VALUE_HEAD_Q]", "training.value_q_source=ROOT", *weights]))
    assert job.losses.q_head == bt_era
    raw = rescore_records(read_chunk(DATA / "lc0-selfplay" / "game_000002.gz")[:16])
    host = Batch.from_decoded(decode_records(raw), True)
    mesh, (graphdef, params, batch_stats), steps, _ = build_training(job)
    metrics = steps.evaluate(params, batch_stats, to_global_batch(mesh, host))
    model = nnx.merge(graphdef, params, batch_stats)
    model.eval()
    out = model(jnp.asarray(host.planes))
    logits = np.asarray(out.aux_value["q"].wdl_logits if bt_era else out.wdl_logits, np.float64)
    expected = np.mean(-np.sum(np.asarray(host.q_wdl, np.float64) * _log_softmax(logits), axis=-1))
    assert float(metrics["value_q_loss"]) == pytest.approx(expected, rel=1e-5)
    if bt_era:  # tf-214's value MSE/4 and accuracy: the q head against q
        q, probs = np.asarray(host.q_wdl, np.float64), np.exp(_log_softmax(logits))
        assert float(metrics["value_mse"]) == pytest.approx(np.mean((_np_score(probs) - _np_score(q)) ** 2) / 4, rel=1e-4)
        assert float(metrics["value_accuracy"]) == pytest.approx(np.mean(np.argmax(logits, -1) == np.argmax(q, -1)))
