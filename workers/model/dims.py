"""Resolved transformer dimensions: every default of a `ModelConfig` filled in and checked, here only."""

import dataclasses

from lc0train import model_pb2

from workers.model.activations import resolve_activation
from workers.model.errors import ModelConfigError

NUM_SQUARES = 64
NUM_PLANES = 112
# The current position's 12 piece planes feed the dense ("PE_DENSE") preprocessing.
NUM_PIECE_PLANES = 12
# Widths of the value and moves-left heads when the config leaves them 0 (both bodies).
DEFAULT_VALUE_CHANNELS = 32
DEFAULT_MOVES_LEFT_CHANNELS = 8
DEFAULT_HEAD_HIDDEN = 128
# Width of the arc table concatenated to each square's planes (MAP embedding).
NUM_ARC_FEATURES = 64
# Norm epsilons as lc0 runs them: 1e-3 in PE_DENSE bodies, smolgen and the embedding, 1e-6
# in PE_MAP (legacy attention body) encoders; tf-214's RMSNorm uses 1e-5.
DENSE_LAYER_NORM_EPS = 1e-3
MAP_LAYER_NORM_EPS = 1e-6
RMS_NORM_EPS = 1e-5


@dataclasses.dataclass(frozen=True)
class SmolgenDims:
    """Widths of the per-block smolgen bias generator."""

    hidden_channels: int
    hidden_size: int
    gen_size: int
    activation: int


@dataclasses.dataclass(frozen=True)
class NetDims:
    """Every width the BT network needs, with 0-means-default fields resolved."""

    embedding: int
    embedding_dense: int
    embedding_dff: int
    layers: int
    heads: int
    d_model: int
    dff: int
    smolgen: SmolgenDims | None
    policy_embedding: int
    policy_d_model: int
    value_channels: int
    moves_left_channels: int
    value_hidden: int
    moves_left_hidden: int
    default_activation: int
    ffn_activation: int
    dropout_rate: float = 0.0
    embedding_style: int = model_pb2.EMBEDDING_DENSE  # DEFAULT resolved
    arc_encoding: bool = False  # MAP style only
    rms_norm: bool = False
    skip_first_ln: bool = False
    qkv_bias: bool = True
    other_bias: bool = True
    wdl_value: bool = True  # False: the classical value head (one tanh output)
    moves_left_head: bool = True  # False: MOVES_LEFT_NONE

    @property
    def map_embedding(self) -> bool:
        """True for the legacy attention body's PE_MAP embedding."""
        return self.embedding_style == model_pb2.EMBEDDING_MAP

    @property
    def embedding_inputs(self) -> int:
        """Features per square entering the embedding dense layer."""
        if self.map_embedding:
            return NUM_PLANES + (NUM_ARC_FEATURES if self.arc_encoding else 0)
        return NUM_PLANES + self.embedding_dense

    @property
    def encoder_norm_eps(self) -> float:
        """Epsilon of the encoder blocks' norms."""
        if self.rms_norm:
            return RMS_NORM_EPS
        return MAP_LAYER_NORM_EPS if self.map_embedding else DENSE_LAYER_NORM_EPS

    @property
    def deepnorm_alpha(self) -> float:
        """Residual scale of every post-LN residual, (2·layers)^-1/4."""
        return (2.0 * self.layers) ** -0.25

    @property
    def deepnorm_beta(self) -> float:
        """Init scale of the v, out and FFN kernels, (8·layers)^-1/4."""
        return (8.0 * self.layers) ** -0.25

    @property
    def head_depth(self) -> int:
        return self.d_model // self.heads

    @classmethod
    def from_config(cls, config: model_pb2.ModelConfig) -> "NetDims":
        """Resolves every default of a transformer; raises ModelConfigError naming each bad field."""
        problems = [(f"model.{name}", f"the transformer body has {built} only")
                    for name, allowed, built in _TRANSFORMER_HEADS if getattr(config, name) not in allowed]
        e = config.embedding_size
        default = config.default_activation or model_pb2.MISH
        smolgen = None
        moves_left_head = config.moves_left != model_pb2.MOVES_LEFT_NONE  # without it, its widths are 0
        if config.use_smolgen:
            smolgen = SmolgenDims(
                hidden_channels=config.smolgen_hidden_channels,
                hidden_size=config.smolgen_hidden_sz,
                gen_size=config.smolgen_gen_sz,
                activation=resolve_activation(config.smolgen_activation, default),
            )
        dims = cls(
            embedding=e,
            embedding_dense=config.embedding_dense_sz,
            embedding_dff=config.embedding_dff or config.encoder_dff,
            layers=config.encoder_layers,
            heads=config.encoder_heads,
            d_model=config.encoder_d_model or e,
            dff=config.encoder_dff,
            smolgen=smolgen,
            policy_embedding=config.policy_embedding_size or e,
            policy_d_model=config.policy_d_model or e,
            value_channels=config.value_embedding_size or DEFAULT_VALUE_CHANNELS,
            moves_left_channels=(config.moves_left_embedding_size or DEFAULT_MOVES_LEFT_CHANNELS) if moves_left_head else 0,
            value_hidden=config.value_hidden_size or DEFAULT_HEAD_HIDDEN,
            moves_left_hidden=(config.moves_left_hidden_size or DEFAULT_HEAD_HIDDEN) if moves_left_head else 0,
            default_activation=default,
            ffn_activation=resolve_activation(config.ffn_activation, default),
            dropout_rate=config.dropout_rate,
            embedding_style=config.embedding_style or model_pb2.EMBEDDING_DENSE,
            arc_encoding=config.embedding_style == model_pb2.EMBEDDING_MAP
            and (config.arc_encoding if config.HasField("arc_encoding") else True),
            rms_norm=config.encoder_rms_norm,
            skip_first_ln=config.skip_first_ln,
            qkv_bias=not config.omit_qkv_biases,
            other_bias=not config.omit_other_biases,
            wdl_value=config.value != model_pb2.VALUE_CLASSICAL,
            moves_left_head=moves_left_head,
        )
        if config.HasField("arc_encoding") and not dims.map_embedding:
            problems.append(("model.arc_encoding", "only applies to embedding_style EMBEDDING_MAP"))
        problems += dims._problems()
        if problems:
            raise ModelConfigError(*problems)
        return dims

    def _problems(self) -> list[tuple[str, str]]:
        positive = {
            "embedding_size": self.embedding,
            "encoder_layers": self.layers,
            "encoder_heads": self.heads,
            "encoder_dff": self.dff,
            "encoder_d_model": self.d_model,
            "embedding_dff": self.embedding_dff,
            "policy_embedding_size": self.policy_embedding,
            "policy_d_model": self.policy_d_model,
            "value_embedding_size": self.value_channels,
            "value_hidden_size": self.value_hidden,
        }
        if self.moves_left_head:
            positive |= {"moves_left_embedding_size": self.moves_left_channels, "moves_left_hidden_size": self.moves_left_hidden}
        if self.smolgen is not None:
            positive |= {
                "smolgen_hidden_channels": self.smolgen.hidden_channels,
                "smolgen_hidden_sz": self.smolgen.hidden_size,
                "smolgen_gen_sz": self.smolgen.gen_size,
            }
        problems = [(f"model.{name}", f"is {value}: it must be positive") for name, value in positive.items() if value <= 0]
        if not 0.0 <= self.dropout_rate < 1.0:
            problems.append(("model.dropout_rate", f"is {self.dropout_rate}: it must be in [0, 1)"))
        if self.embedding_style not in (model_pb2.EMBEDDING_DENSE, model_pb2.EMBEDDING_MAP):
            problems.append(("model.embedding_style", f"{self.embedding_style} is not a known EmbeddingStyle"))
        if self.map_embedding and self.embedding_dense:
            problems.append(("model.embedding_dense_sz", f"is {self.embedding_dense}: the EMBEDDING_MAP embedding has no "
                             "dense preprocessing (set it to 0)"))
        if self.embedding_dense < 0:
            problems.append(("model.embedding_dense_sz", f"is {self.embedding_dense}: it must be >= 0"))
        if self.heads > 0 and self.d_model % self.heads:
            problems.append(("model.encoder_heads", f"{self.heads} must divide encoder_d_model {self.d_model}"))
        return problems


# The heads BTNet builds: (field, accepted values, what it has).
_TRANSFORMER_HEADS = (
    ("policy", (model_pb2.POLICY_DEFAULT, model_pb2.POLICY_ATTENTION), "an attention policy head"),
    ("value", (model_pb2.VALUE_DEFAULT, model_pb2.VALUE_WDL, model_pb2.VALUE_CLASSICAL), "a WDL or classical value head"),
    ("moves_left", (model_pb2.MOVES_LEFT_DEFAULT, model_pb2.MOVES_LEFT_V1, model_pb2.MOVES_LEFT_NONE), "a v1 moves-left head or none"),
)
