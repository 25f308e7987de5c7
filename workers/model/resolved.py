"""A model's architecture resolved once: typed dimensions and heads, built, exported and compared from here.

Every default and cross-field rule of `ModelConfig` lives in `NetDims.from_config`,
`ResNetDims.from_config` and `HeadLayout.from_config`; `ResolvedModel.from_config` runs the
ones of the config's body and raises one `ModelConfigError` listing every bad field.
"""

from __future__ import annotations

import dataclasses
from typing import Callable

from lc0train import model_pb2

from workers.model.dims import NetDims
from workers.model.errors import ModelConfigError
from workers.model.head_layout import HeadLayout
from workers.model.resnet import ResNetDims


@dataclasses.dataclass(frozen=True)
class ResolvedModel:
    """The dimensions a network is built from, and the config it was resolved from (which
    export and stored nets write: it describes the same net, defaults left implicit)."""

    config: model_pb2.ModelConfig
    dims: NetDims | ResNetDims
    heads: HeadLayout

    @classmethod
    def from_config(cls, config: model_pb2.ModelConfig) -> ResolvedModel:
        """Resolves `config` (left unchanged); raises ModelConfigError naming every bad field."""
        if config.body not in _BODIES:
            raise ModelConfigError(("model.body", f"{config.body} is not a known body"))
        problems: list[tuple[str, str]] = []
        dims: NetDims | ResNetDims | None = None
        heads = HeadLayout()
        try:
            dims = _BODIES[config.body](config)
        except ModelConfigError as err:
            problems += err.problems
        try:
            heads = HeadLayout.from_config(config)
        except ModelConfigError as err:
            problems += err.problems
        if problems or dims is None:
            raise ModelConfigError(*problems)
        copy = model_pb2.ModelConfig()
        copy.CopyFrom(config)
        return cls(copy, dims, heads)

    @property
    def input_type(self) -> int:
        return self.config.input_type

    @property
    def dropout_rate(self) -> float:
        """Attention-layer dropout (a residual body has none)."""
        return self.dims.dropout_rate if isinstance(self.dims, NetDims) else 0.0


_BODIES: dict[int, Callable[[model_pb2.ModelConfig], NetDims | ResNetDims]] = {
    model_pb2.BODY_TRANSFORMER: NetDims.from_config,
    model_pb2.BODY_RESNET: ResNetDims.from_config,
}
