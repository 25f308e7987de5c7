from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Activation(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ACTIVATION_DEFAULT: _ClassVar[Activation]
    MISH: _ClassVar[Activation]
    RELU: _ClassVar[Activation]
    NONE: _ClassVar[Activation]
    TANH: _ClassVar[Activation]
    SIGMOID: _ClassVar[Activation]
    SELU: _ClassVar[Activation]
    SWISH: _ClassVar[Activation]
    RELU_2: _ClassVar[Activation]

class InputType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    INPUT_TYPE_UNSPECIFIED: _ClassVar[InputType]
    INPUT_CLASSICAL_112_PLANE: _ClassVar[InputType]
    INPUT_112_WITH_CASTLING_PLANE: _ClassVar[InputType]
    INPUT_112_WITH_CANONICALIZATION: _ClassVar[InputType]
    INPUT_112_WITH_CANONICALIZATION_HECTOPLIES: _ClassVar[InputType]
    INPUT_112_WITH_CANONICALIZATION_V2: _ClassVar[InputType]
    INPUT_112_WITH_CANONICALIZATION_HECTOPLIES_ARMAGEDDON: _ClassVar[InputType]
    INPUT_112_WITH_CANONICALIZATION_V2_ARMAGEDDON: _ClassVar[InputType]

class EmbeddingStyle(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    EMBEDDING_STYLE_DEFAULT: _ClassVar[EmbeddingStyle]
    EMBEDDING_DENSE: _ClassVar[EmbeddingStyle]
    EMBEDDING_MAP: _ClassVar[EmbeddingStyle]

class AuxPolicyHead(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    AUX_POLICY_HEAD_UNSPECIFIED: _ClassVar[AuxPolicyHead]
    POLICY_HEAD_OPTIMISTIC_ST: _ClassVar[AuxPolicyHead]
    POLICY_HEAD_SOFT: _ClassVar[AuxPolicyHead]
    POLICY_HEAD_OPPONENT: _ClassVar[AuxPolicyHead]
    POLICY_HEAD_NEXT: _ClassVar[AuxPolicyHead]

class AuxValueHead(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    AUX_VALUE_HEAD_UNSPECIFIED: _ClassVar[AuxValueHead]
    VALUE_HEAD_Q: _ClassVar[AuxValueHead]
    VALUE_HEAD_ST: _ClassVar[AuxValueHead]

class Body(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    BODY_TRANSFORMER: _ClassVar[Body]
    BODY_RESNET: _ClassVar[Body]

class PolicyHead(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    POLICY_DEFAULT: _ClassVar[PolicyHead]
    POLICY_CLASSICAL: _ClassVar[PolicyHead]
    POLICY_CONVOLUTION: _ClassVar[PolicyHead]
    POLICY_ATTENTION: _ClassVar[PolicyHead]

class ValueHead(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    VALUE_DEFAULT: _ClassVar[ValueHead]
    VALUE_CLASSICAL: _ClassVar[ValueHead]
    VALUE_WDL: _ClassVar[ValueHead]

class MovesLeftHead(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    MOVES_LEFT_DEFAULT: _ClassVar[MovesLeftHead]
    MOVES_LEFT_NONE: _ClassVar[MovesLeftHead]
    MOVES_LEFT_V1: _ClassVar[MovesLeftHead]
ACTIVATION_DEFAULT: Activation
MISH: Activation
RELU: Activation
NONE: Activation
TANH: Activation
SIGMOID: Activation
SELU: Activation
SWISH: Activation
RELU_2: Activation
INPUT_TYPE_UNSPECIFIED: InputType
INPUT_CLASSICAL_112_PLANE: InputType
INPUT_112_WITH_CASTLING_PLANE: InputType
INPUT_112_WITH_CANONICALIZATION: InputType
INPUT_112_WITH_CANONICALIZATION_HECTOPLIES: InputType
INPUT_112_WITH_CANONICALIZATION_V2: InputType
INPUT_112_WITH_CANONICALIZATION_HECTOPLIES_ARMAGEDDON: InputType
INPUT_112_WITH_CANONICALIZATION_V2_ARMAGEDDON: InputType
EMBEDDING_STYLE_DEFAULT: EmbeddingStyle
EMBEDDING_DENSE: EmbeddingStyle
EMBEDDING_MAP: EmbeddingStyle
AUX_POLICY_HEAD_UNSPECIFIED: AuxPolicyHead
POLICY_HEAD_OPTIMISTIC_ST: AuxPolicyHead
POLICY_HEAD_SOFT: AuxPolicyHead
POLICY_HEAD_OPPONENT: AuxPolicyHead
POLICY_HEAD_NEXT: AuxPolicyHead
AUX_VALUE_HEAD_UNSPECIFIED: AuxValueHead
VALUE_HEAD_Q: AuxValueHead
VALUE_HEAD_ST: AuxValueHead
BODY_TRANSFORMER: Body
BODY_RESNET: Body
POLICY_DEFAULT: PolicyHead
POLICY_CLASSICAL: PolicyHead
POLICY_CONVOLUTION: PolicyHead
POLICY_ATTENTION: PolicyHead
VALUE_DEFAULT: ValueHead
VALUE_CLASSICAL: ValueHead
VALUE_WDL: ValueHead
MOVES_LEFT_DEFAULT: MovesLeftHead
MOVES_LEFT_NONE: MovesLeftHead
MOVES_LEFT_V1: MovesLeftHead

class ModelConfig(_message.Message):
    __slots__ = ("input_type", "embedding_size", "embedding_dense_sz", "embedding_dff", "encoder_layers", "encoder_heads", "encoder_d_model", "encoder_dff", "default_activation", "ffn_activation", "use_smolgen", "smolgen_hidden_channels", "smolgen_hidden_sz", "smolgen_gen_sz", "smolgen_activation", "policy_embedding_size", "policy_d_model", "value_embedding_size", "moves_left_embedding_size", "value_hidden_size", "moves_left_hidden_size", "body", "filters", "residual_blocks", "se_ratio", "policy", "value", "moves_left", "policy_channels", "pol_encoder_layers", "pol_encoder_heads", "pol_encoder_d_model", "pol_encoder_dff", "renorm", "renorm_max_r", "renorm_max_d", "renorm_momentum", "virtual_batch_size", "dropout_rate", "embedding_style", "arc_encoding", "encoder_rms_norm", "skip_first_ln", "omit_qkv_biases", "omit_other_biases", "aux_policy_heads", "aux_value_heads", "value_error_outputs", "categorical_value_buckets", "soft_policy_temperature")
    INPUT_TYPE_FIELD_NUMBER: _ClassVar[int]
    EMBEDDING_SIZE_FIELD_NUMBER: _ClassVar[int]
    EMBEDDING_DENSE_SZ_FIELD_NUMBER: _ClassVar[int]
    EMBEDDING_DFF_FIELD_NUMBER: _ClassVar[int]
    ENCODER_LAYERS_FIELD_NUMBER: _ClassVar[int]
    ENCODER_HEADS_FIELD_NUMBER: _ClassVar[int]
    ENCODER_D_MODEL_FIELD_NUMBER: _ClassVar[int]
    ENCODER_DFF_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_ACTIVATION_FIELD_NUMBER: _ClassVar[int]
    FFN_ACTIVATION_FIELD_NUMBER: _ClassVar[int]
    USE_SMOLGEN_FIELD_NUMBER: _ClassVar[int]
    SMOLGEN_HIDDEN_CHANNELS_FIELD_NUMBER: _ClassVar[int]
    SMOLGEN_HIDDEN_SZ_FIELD_NUMBER: _ClassVar[int]
    SMOLGEN_GEN_SZ_FIELD_NUMBER: _ClassVar[int]
    SMOLGEN_ACTIVATION_FIELD_NUMBER: _ClassVar[int]
    POLICY_EMBEDDING_SIZE_FIELD_NUMBER: _ClassVar[int]
    POLICY_D_MODEL_FIELD_NUMBER: _ClassVar[int]
    VALUE_EMBEDDING_SIZE_FIELD_NUMBER: _ClassVar[int]
    MOVES_LEFT_EMBEDDING_SIZE_FIELD_NUMBER: _ClassVar[int]
    VALUE_HIDDEN_SIZE_FIELD_NUMBER: _ClassVar[int]
    MOVES_LEFT_HIDDEN_SIZE_FIELD_NUMBER: _ClassVar[int]
    BODY_FIELD_NUMBER: _ClassVar[int]
    FILTERS_FIELD_NUMBER: _ClassVar[int]
    RESIDUAL_BLOCKS_FIELD_NUMBER: _ClassVar[int]
    SE_RATIO_FIELD_NUMBER: _ClassVar[int]
    POLICY_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    MOVES_LEFT_FIELD_NUMBER: _ClassVar[int]
    POLICY_CHANNELS_FIELD_NUMBER: _ClassVar[int]
    POL_ENCODER_LAYERS_FIELD_NUMBER: _ClassVar[int]
    POL_ENCODER_HEADS_FIELD_NUMBER: _ClassVar[int]
    POL_ENCODER_D_MODEL_FIELD_NUMBER: _ClassVar[int]
    POL_ENCODER_DFF_FIELD_NUMBER: _ClassVar[int]
    RENORM_FIELD_NUMBER: _ClassVar[int]
    RENORM_MAX_R_FIELD_NUMBER: _ClassVar[int]
    RENORM_MAX_D_FIELD_NUMBER: _ClassVar[int]
    RENORM_MOMENTUM_FIELD_NUMBER: _ClassVar[int]
    VIRTUAL_BATCH_SIZE_FIELD_NUMBER: _ClassVar[int]
    DROPOUT_RATE_FIELD_NUMBER: _ClassVar[int]
    EMBEDDING_STYLE_FIELD_NUMBER: _ClassVar[int]
    ARC_ENCODING_FIELD_NUMBER: _ClassVar[int]
    ENCODER_RMS_NORM_FIELD_NUMBER: _ClassVar[int]
    SKIP_FIRST_LN_FIELD_NUMBER: _ClassVar[int]
    OMIT_QKV_BIASES_FIELD_NUMBER: _ClassVar[int]
    OMIT_OTHER_BIASES_FIELD_NUMBER: _ClassVar[int]
    AUX_POLICY_HEADS_FIELD_NUMBER: _ClassVar[int]
    AUX_VALUE_HEADS_FIELD_NUMBER: _ClassVar[int]
    VALUE_ERROR_OUTPUTS_FIELD_NUMBER: _ClassVar[int]
    CATEGORICAL_VALUE_BUCKETS_FIELD_NUMBER: _ClassVar[int]
    SOFT_POLICY_TEMPERATURE_FIELD_NUMBER: _ClassVar[int]
    input_type: InputType
    embedding_size: int
    embedding_dense_sz: int
    embedding_dff: int
    encoder_layers: int
    encoder_heads: int
    encoder_d_model: int
    encoder_dff: int
    default_activation: Activation
    ffn_activation: Activation
    use_smolgen: bool
    smolgen_hidden_channels: int
    smolgen_hidden_sz: int
    smolgen_gen_sz: int
    smolgen_activation: Activation
    policy_embedding_size: int
    policy_d_model: int
    value_embedding_size: int
    moves_left_embedding_size: int
    value_hidden_size: int
    moves_left_hidden_size: int
    body: Body
    filters: int
    residual_blocks: int
    se_ratio: int
    policy: PolicyHead
    value: ValueHead
    moves_left: MovesLeftHead
    policy_channels: int
    pol_encoder_layers: int
    pol_encoder_heads: int
    pol_encoder_d_model: int
    pol_encoder_dff: int
    renorm: bool
    renorm_max_r: float
    renorm_max_d: float
    renorm_momentum: float
    virtual_batch_size: int
    dropout_rate: float
    embedding_style: EmbeddingStyle
    arc_encoding: bool
    encoder_rms_norm: bool
    skip_first_ln: bool
    omit_qkv_biases: bool
    omit_other_biases: bool
    aux_policy_heads: _containers.RepeatedScalarFieldContainer[AuxPolicyHead]
    aux_value_heads: _containers.RepeatedScalarFieldContainer[AuxValueHead]
    value_error_outputs: bool
    categorical_value_buckets: int
    soft_policy_temperature: float
    def __init__(self, input_type: _Optional[_Union[InputType, str]] = ..., embedding_size: _Optional[int] = ..., embedding_dense_sz: _Optional[int] = ..., embedding_dff: _Optional[int] = ..., encoder_layers: _Optional[int] = ..., encoder_heads: _Optional[int] = ..., encoder_d_model: _Optional[int] = ..., encoder_dff: _Optional[int] = ..., default_activation: _Optional[_Union[Activation, str]] = ..., ffn_activation: _Optional[_Union[Activation, str]] = ..., use_smolgen: _Optional[bool] = ..., smolgen_hidden_channels: _Optional[int] = ..., smolgen_hidden_sz: _Optional[int] = ..., smolgen_gen_sz: _Optional[int] = ..., smolgen_activation: _Optional[_Union[Activation, str]] = ..., policy_embedding_size: _Optional[int] = ..., policy_d_model: _Optional[int] = ..., value_embedding_size: _Optional[int] = ..., moves_left_embedding_size: _Optional[int] = ..., value_hidden_size: _Optional[int] = ..., moves_left_hidden_size: _Optional[int] = ..., body: _Optional[_Union[Body, str]] = ..., filters: _Optional[int] = ..., residual_blocks: _Optional[int] = ..., se_ratio: _Optional[int] = ..., policy: _Optional[_Union[PolicyHead, str]] = ..., value: _Optional[_Union[ValueHead, str]] = ..., moves_left: _Optional[_Union[MovesLeftHead, str]] = ..., policy_channels: _Optional[int] = ..., pol_encoder_layers: _Optional[int] = ..., pol_encoder_heads: _Optional[int] = ..., pol_encoder_d_model: _Optional[int] = ..., pol_encoder_dff: _Optional[int] = ..., renorm: _Optional[bool] = ..., renorm_max_r: _Optional[float] = ..., renorm_max_d: _Optional[float] = ..., renorm_momentum: _Optional[float] = ..., virtual_batch_size: _Optional[int] = ..., dropout_rate: _Optional[float] = ..., embedding_style: _Optional[_Union[EmbeddingStyle, str]] = ..., arc_encoding: _Optional[bool] = ..., encoder_rms_norm: _Optional[bool] = ..., skip_first_ln: _Optional[bool] = ..., omit_qkv_biases: _Optional[bool] = ..., omit_other_biases: _Optional[bool] = ..., aux_policy_heads: _Optional[_Iterable[_Union[AuxPolicyHead, str]]] = ..., aux_value_heads: _Optional[_Iterable[_Union[AuxValueHead, str]]] = ..., value_error_outputs: _Optional[bool] = ..., categorical_value_buckets: _Optional[int] = ..., soft_policy_temperature: _Optional[float] = ...) -> None: ...
