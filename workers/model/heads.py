"""Attention policy, WDL value and moves-left heads on tokens [B·64, E]."""

import functools
import math

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


class PolicyHead(nnx.Module):
    """lc0's attention policy: from-to logits QKᵀ/√d plus promotion offsets."""

    def __init__(self, dims: NetDims, *, layers: Layers, rngs: nnx.Rngs):
        pe, d = dims.policy_embedding, dims.policy_d_model
        self.tokens = layers.linear(dims.embedding, pe, rngs=rngs)
        self.q = layers.linear(pe, d, rngs=rngs)
        self.k = layers.linear(pe, d, rngs=rngs)
        # Offsets per to-square on the last rank for q, r, b, n (in that order).
        self.promotion = layers.linear(d, 4, use_bias=False, rngs=rngs)
        self.activation = dims.default_activation
        self.d_model = d

    def __call__(self, x_te: jax.Array) -> jax.Array:
        """Policy logits [B, 1858] in lc0's order."""
        b = x_te.shape[0] // NUM_SQUARES
        tokens_tp = activation_fn(self.activation)(self.tokens(x_te))
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

    def __call__(self, x_te: jax.Array) -> jax.Array:
        act = activation_fn(self.activation)
        b = x_te.shape[0] // NUM_SQUARES
        flat_bf = act(self.embed(x_te)).reshape(b, -1)
        return self.dense2(act(self.dense1(flat_bf)))
