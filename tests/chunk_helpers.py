"""Test helpers shared by the format and writer tests: an independent chunk reader and planes of a board."""

from __future__ import annotations

import gzip
from pathlib import Path

import chess
import numpy as np

from workers.data.planes import position_fields
from workers.data.v6 import RECORD_SIZE, InputFormat, decode_records, encode_record


def read_chunk(path: Path) -> np.ndarray:
    """A V6 chunk's records as uint8 rows, read without the project's reader."""
    return np.frombuffer(gzip.decompress(path.read_bytes()), np.uint8).reshape(-1, RECORD_SIZE)


def board_planes(board: chess.Board, input_format: InputFormat) -> np.ndarray:
    """planes.py's fields for `board`, through encode_record and decode_records."""
    fields = position_fields(board, input_format)
    record = encode_record(input_format, probabilities=np.zeros(1858), **fields._asdict())
    return decode_records(np.frombuffer(record, np.uint8)[None]).planes[0]
