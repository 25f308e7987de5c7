"""Tensor encodings of lc0's `Weights.Layer`: LINEAR16 (written) and the per-layer
FLOAT16, BFLOAT16 and FLOAT32 encodings of lc0 >= 0.33 (read only)."""

from typing import TypeAlias

import numpy as np

from lc0train import net_pb2

Layer: TypeAlias = net_pb2.Weights.Layer
_LEVELS = 65535.0


def encode_linear16(values: np.ndarray, layer: Layer) -> None:
    """Quantises `values` (any shape, flattened row-major) into `layer` as LINEAR16.

    u = round((x − min)/(max − min)·65535); a constant tensor stores min = max and u = 0.
    """
    flat = np.asarray(values, np.float64).reshape(-1)
    if not np.isfinite(flat).all():
        raise ValueError("cannot export a tensor with NaN or infinite values")
    # The bounds as the float32 fields will hold them, so the grid is the one decoders use.
    low, high = (float(np.float32(flat.min())), float(np.float32(flat.max()))) if flat.size else (0.0, 0.0)
    span = high - low
    scaled = (flat - low) / span * _LEVELS if span > 0 else np.zeros_like(flat)
    layer.min_val = low
    layer.max_val = high
    layer.params = np.clip(np.rint(scaled), 0, _LEVELS).astype("<u2").tobytes()


def linear16_step(layer: Layer) -> float:
    """The quantisation step of a LINEAR16 layer: the largest error is half of it."""
    return (layer.max_val - layer.min_val) / _LEVELS


def decode_layer(layer: Layer, default_encoding: int) -> np.ndarray:
    """The float32 values of `layer`; `default_encoding` is Format.weights_encoding."""
    encoding = layer.encoding if layer.HasField("encoding") and layer.encoding else default_encoding
    raw = layer.params
    match encoding:
        case Layer.LINEAR16:
            _check_bytes(raw, 2, "LINEAR16")
            u = np.frombuffer(raw, "<u2").astype(np.float64)
            return (layer.min_val + u / _LEVELS * (layer.max_val - layer.min_val)).astype(np.float32)
        case Layer.FLOAT16:
            _check_bytes(raw, 2, "FLOAT16")
            return np.frombuffer(raw, "<f2").astype(np.float32)
        case Layer.BFLOAT16:
            _check_bytes(raw, 2, "BFLOAT16")
            return (np.frombuffer(raw, "<u2").astype(np.uint32) << 16).view(np.float32)
        case Layer.FLOAT32:
            _check_bytes(raw, 4, "FLOAT32")
            return np.frombuffer(raw, "<f4").astype(np.float32)
        case other:
            name = Layer.Encoding.Name(other) if other in Layer.Encoding.values() else str(other)
            raise ValueError(f"unsupported weights encoding {name}")


def _check_bytes(raw: bytes, width: int, name: str) -> None:
    if len(raw) % width:
        raise ValueError(f"{name} tensor of {len(raw)} bytes is not a whole number of {width}-byte values")
