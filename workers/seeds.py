"""Derivation of every random stream from the job's single seed."""

from __future__ import annotations

import zlib

import numpy as np


def derive_seed(seed: int, purpose: str) -> int:
    """A 63-bit seed for one named purpose (data order, test sampling, ...), stable across runs."""
    entropy = [seed & 0xFFFFFFFF, (seed >> 32) & 0xFFFFFFFF, zlib.crc32(purpose.encode())]
    return int(np.random.SeedSequence(entropy).generate_state(2, np.uint64)[0] >> 1)
