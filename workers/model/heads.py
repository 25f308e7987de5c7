"""Attention policy, value (WDL or classical) and moves-left heads on tokens [B·64, E]."""

import functools
import math
from typing import NamedTuple

import chess
import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from workers.data.policy_map import POLICY_MOVES
from workers.model.activations import activation_fn
from workers.model.dims import NUM_SQUARES, NetDims
from workers.model.layers import Layers

# The attention policy produces 64×64 from-to logits followed by 8 (from file on rank 7)
# × 8 (to file on rank 8) × 3 (q, r, b) promotion logits; a knight promotion is the plain
# from-to move, as in lc0's policy index space.
NUM_FROM_TO = NUM_SQUARES * NUM_SQUARES
PROMOTION_PIECES = "qrb"
NUM_PROMOTION_LOGITS = 8 * 8 * len(PROMOTION_PIECES)


@functools.cache
def policy_gather_index() -> np.ndarray:
    """For each of lc0's 1858 policy entries, its position in the 4288 raw logits."""
    index = np.empty(len(POLICY_MOVES), np.int32)
    for i, uci in enumerate(POLICY_MOVES):
        move = chess.Move.from_uci(uci)
        piece = chess.piece_symbol(move.promotion) if move.promotion else "n"
        if piece == "n":
            index[i] = move.from_square * NUM_SQUARES + move.to_square
            continue
        if chess.square_rank(move.from_square) != 6 or chess.square_rank(move.to_square) != 7:
            raise ValueError(f"promotion {uci} is not a rank-7 to rank-8 move")
        from_file = chess.square_file(move.from_square)
        to_file = chess.square_file(move.to_square)
        index[i] = NUM_FROM_TO + (from_file * 8 + to_file) * 3 + PROMOTION_PIECES.index(piece)
    index.flags.writeable = False
    return index


class AttentionPolicy(nnx.Module):
    """One attention policy on policy tokens: from-to logits QKᵀ/√d plus promotion offsets."""

    def __init__(self, dims: NetDims, *, layers: Layers, rngs: nnx.Rngs):
        pe, d = dims.policy_embedding, dims.policy_d_model
        self.q = layers.linear(pe, d, rngs=rngs)
        self.k = layers.linear(pe, d, rngs=rngs)
        # Offsets per to-square on the last rank for q, r, b, n (in that order).
        self.promotion = layers.linear(d, 4, use_bias=False, rngs=rngs)
        self.d_model = d

    def logits(self, tokens_tp: jax.Array) -> jax.Array:
        """Policy logits [B, 1858] in lc0's order from policy tokens [B·64, P]."""
        b = tokens_tp.shape[0] // NUM_SQUARES
        q_bsd = self.q(tokens_tp).reshape(b, NUM_SQUARES, self.d_model)
        k_bsd = self.k(tokens_tp).reshape(b, NUM_SQUARES, self.d_model)
        scale = 1.0 / math.sqrt(self.d_model)
        from_to_bqk = jnp.einsum("bqd,bkd->bqk", q_bsd, k_bsd) * scale

        last_rank_keys_td = k_bsd[:, 56:].reshape(b * 8, self.d_model)
        offsets_bt4 = self.promotion(last_rank_keys_td).reshape(b, 8, 4)
        offsets_bt3 = offsets_bt4[..., :3] + offsets_bt4[..., 3:]
        pawn_pushes_bft = from_to_bqk[:, 48:56, 56:]
        promotions_bft3 = pawn_pushes_bft[..., None] + offsets_bt3[:, None]

        raw_bx = jnp.concatenate(
            [
                from_to_bqk.reshape(b, NUM_FROM_TO),
                promotions_bft3.reshape(b, NUM_PROMOTION_LOGITS),
            ],
            axis=1,
        )
        return jnp.take(raw_bx, policy_gather_index(), axis=1)


class PolicyHead(AttentionPolicy):
    """lc0's attention policy: the shared policy token embedding plus the vanilla head's Q/K."""

    def __init__(self, dims: NetDims, *, layers: Layers, rngs: nnx.Rngs):
        self.tokens = layers.linear(dims.embedding, dims.policy_embedding, rngs=rngs)
        self.activation = dims.default_activation
        super().__init__(dims, layers=layers, rngs=rngs)

    def embed(self, x_te: jax.Array) -> jax.Array:
        """Policy tokens [B·64, P], shared by every policy head."""
        return activation_fn(self.activation)(self.tokens(x_te))

    def __call__(self, x_te: jax.Array) -> jax.Array:
        """Vanilla policy logits [B, 1858] in lc0's order."""
        return self.logits(self.embed(x_te))


class FlatHead(nnx.Module):
    """Per-token Linear(E → C) + act → flatten 64·C → Linear(→hidden) + act → Linear(→out)."""

    def __init__(
        self,
        embedding: int,
        channels: int,
        hidden: int,
        outputs: int,
        activation: int,
        *,
        layers: Layers,
        rngs: nnx.Rngs,
    ):
        self.embed = layers.linear(embedding, channels, rngs=rngs)
        self.dense1 = layers.linear(NUM_SQUARES * channels, hidden, rngs=rngs)
        self.dense2 = layers.linear(hidden, outputs, rngs=rngs)
        self.activation = activation

    def hidden(self, x_te: jax.Array) -> jax.Array:
        """The hidden layer [B, hidden], after its activation."""
        act = activation_fn(self.activation)
        b = x_te.shape[0] // NUM_SQUARES
        flat_bf = act(self.embed(x_te)).reshape(b, -1)
        return act(self.dense1(flat_bf))

    def __call__(self, x_te: jax.Array) -> jax.Array:
        return self.dense2(self.hidden(x_te))


class ValueOutput(NamedTuple):
    """One value head's outputs (float32); err and cat are None when the head lacks them."""

    wdl_logits: jax.Array  # [B, 3]
    err: jax.Array | None = None  # [B], predicted squared error of W−L, in (0, 1)
    cat: jax.Array | None = None  # [B, K], categorical value logits


class ValueHead(FlatHead):
    """A WDL value head (3 logits) or, with `wdl=False`, the classical one (1 output, tanh applied
    by the caller); optionally an error output and categorical logits off its hidden layer."""

    def __init__(self, dims: NetDims, *, error_output: bool, categorical_buckets: int, layers: Layers, rngs: nnx.Rngs,
                 wdl: bool = True):
        outputs = 3 if wdl else 1
        super().__init__(dims.embedding, dims.value_channels, dims.value_hidden, outputs, dims.default_activation, layers=layers, rngs=rngs)
        self.err = layers.linear(dims.value_hidden, 1, rngs=rngs) if error_output else None
        self.cat = layers.linear(dims.value_hidden, categorical_buckets, rngs=rngs) if categorical_buckets else None

    def outputs(self, x_te: jax.Array) -> ValueOutput:
        hidden = self.hidden(x_te)
        return ValueOutput(
            self.dense2(hidden).astype(jnp.float32),
            jax.nn.sigmoid(self.err(hidden)[:, 0]).astype(jnp.float32) if self.err is not None else None,
            self.cat(hidden).astype(jnp.float32) if self.cat is not None else None,
        )
