from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Optimizer(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    OPTIMIZER_UNSPECIFIED: _ClassVar[Optimizer]
    SGD: _ClassVar[Optimizer]
    ADAM: _ClassVar[Optimizer]
    NADAM: _ClassVar[Optimizer]
    ADAMW: _ClassVar[Optimizer]
    NADAMW: _ClassVar[Optimizer]
    RMSPROP: _ClassVar[Optimizer]
    ADABELIEF: _ClassVar[Optimizer]

class Precision(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    FP32: _ClassVar[Precision]
    BF16: _ClassVar[Precision]
    FP16: _ClassVar[Precision]

class PolicyLoss(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CROSS_ENTROPY: _ClassVar[PolicyLoss]
    KL: _ClassVar[PolicyLoss]

class ValueQSource(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    BEST: _ClassVar[ValueQSource]
    ROOT: _ClassVar[ValueQSource]
OPTIMIZER_UNSPECIFIED: Optimizer
SGD: Optimizer
ADAM: Optimizer
NADAM: Optimizer
ADAMW: Optimizer
NADAMW: Optimizer
RMSPROP: Optimizer
ADABELIEF: Optimizer
FP32: Precision
BF16: Precision
FP16: Precision
CROSS_ENTROPY: PolicyLoss
KL: PolicyLoss
BEST: ValueQSource
ROOT: ValueQSource

class LossWeights(_message.Message):
    __slots__ = ("policy", "policy_optimistic_st", "policy_soft", "policy_opponent", "policy_next", "value_winner", "value_q", "value_q_err", "value_q_cat", "value_st", "value_st_err", "value_st_cat", "reg", "moves_left")
    POLICY_FIELD_NUMBER: _ClassVar[int]
    POLICY_OPTIMISTIC_ST_FIELD_NUMBER: _ClassVar[int]
    POLICY_SOFT_FIELD_NUMBER: _ClassVar[int]
    POLICY_OPPONENT_FIELD_NUMBER: _ClassVar[int]
    POLICY_NEXT_FIELD_NUMBER: _ClassVar[int]
    VALUE_WINNER_FIELD_NUMBER: _ClassVar[int]
    VALUE_Q_FIELD_NUMBER: _ClassVar[int]
    VALUE_Q_ERR_FIELD_NUMBER: _ClassVar[int]
    VALUE_Q_CAT_FIELD_NUMBER: _ClassVar[int]
    VALUE_ST_FIELD_NUMBER: _ClassVar[int]
    VALUE_ST_ERR_FIELD_NUMBER: _ClassVar[int]
    VALUE_ST_CAT_FIELD_NUMBER: _ClassVar[int]
    REG_FIELD_NUMBER: _ClassVar[int]
    MOVES_LEFT_FIELD_NUMBER: _ClassVar[int]
    policy: float
    policy_optimistic_st: float
    policy_soft: float
    policy_opponent: float
    policy_next: float
    value_winner: float
    value_q: float
    value_q_err: float
    value_q_cat: float
    value_st: float
    value_st_err: float
    value_st_cat: float
    reg: float
    moves_left: float
    def __init__(self, policy: _Optional[float] = ..., policy_optimistic_st: _Optional[float] = ..., policy_soft: _Optional[float] = ..., policy_opponent: _Optional[float] = ..., policy_next: _Optional[float] = ..., value_winner: _Optional[float] = ..., value_q: _Optional[float] = ..., value_q_err: _Optional[float] = ..., value_q_cat: _Optional[float] = ..., value_st: _Optional[float] = ..., value_st_err: _Optional[float] = ..., value_st_cat: _Optional[float] = ..., reg: _Optional[float] = ..., moves_left: _Optional[float] = ...) -> None: ...

class ConstantLr(_message.Message):
    __slots__ = ("lr",)
    LR_FIELD_NUMBER: _ClassVar[int]
    lr: float
    def __init__(self, lr: _Optional[float] = ...) -> None: ...

class DecayLr(_message.Message):
    __slots__ = ("peak_lr", "final_lr", "decay_steps")
    PEAK_LR_FIELD_NUMBER: _ClassVar[int]
    FINAL_LR_FIELD_NUMBER: _ClassVar[int]
    DECAY_STEPS_FIELD_NUMBER: _ClassVar[int]
    peak_lr: float
    final_lr: float
    decay_steps: int
    def __init__(self, peak_lr: _Optional[float] = ..., final_lr: _Optional[float] = ..., decay_steps: _Optional[int] = ...) -> None: ...

class TrainingConfig(_message.Message):
    __slots__ = ("batch_size", "total_steps", "test_steps", "validation_steps", "checkpoint_steps", "train_avg_report_steps", "num_test_positions", "shuffle_size", "lr_values", "lr_boundaries", "warmup_steps", "optimizer", "momentum", "beta_1", "beta_2", "epsilon", "weight_decay", "max_grad_norm", "policy_loss_weight", "value_loss_weight", "moves_left_loss_weight", "max_to_keep", "precision", "loss_scale", "dynamic_loss_scale", "swa", "swa_steps", "swa_max_n", "num_batch_splits", "new_optimizer", "lookahead_optimizer", "weight_decay_unscaled", "constant_lr", "cosine_decay", "linear_decay", "reg_term_weight", "q_ratio", "loss_weights", "mask_legal_moves", "policy_loss", "value_q_source")
    BATCH_SIZE_FIELD_NUMBER: _ClassVar[int]
    TOTAL_STEPS_FIELD_NUMBER: _ClassVar[int]
    TEST_STEPS_FIELD_NUMBER: _ClassVar[int]
    VALIDATION_STEPS_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINT_STEPS_FIELD_NUMBER: _ClassVar[int]
    TRAIN_AVG_REPORT_STEPS_FIELD_NUMBER: _ClassVar[int]
    NUM_TEST_POSITIONS_FIELD_NUMBER: _ClassVar[int]
    SHUFFLE_SIZE_FIELD_NUMBER: _ClassVar[int]
    LR_VALUES_FIELD_NUMBER: _ClassVar[int]
    LR_BOUNDARIES_FIELD_NUMBER: _ClassVar[int]
    WARMUP_STEPS_FIELD_NUMBER: _ClassVar[int]
    OPTIMIZER_FIELD_NUMBER: _ClassVar[int]
    MOMENTUM_FIELD_NUMBER: _ClassVar[int]
    BETA_1_FIELD_NUMBER: _ClassVar[int]
    BETA_2_FIELD_NUMBER: _ClassVar[int]
    EPSILON_FIELD_NUMBER: _ClassVar[int]
    WEIGHT_DECAY_FIELD_NUMBER: _ClassVar[int]
    MAX_GRAD_NORM_FIELD_NUMBER: _ClassVar[int]
    POLICY_LOSS_WEIGHT_FIELD_NUMBER: _ClassVar[int]
    VALUE_LOSS_WEIGHT_FIELD_NUMBER: _ClassVar[int]
    MOVES_LEFT_LOSS_WEIGHT_FIELD_NUMBER: _ClassVar[int]
    MAX_TO_KEEP_FIELD_NUMBER: _ClassVar[int]
    PRECISION_FIELD_NUMBER: _ClassVar[int]
    LOSS_SCALE_FIELD_NUMBER: _ClassVar[int]
    DYNAMIC_LOSS_SCALE_FIELD_NUMBER: _ClassVar[int]
    SWA_FIELD_NUMBER: _ClassVar[int]
    SWA_STEPS_FIELD_NUMBER: _ClassVar[int]
    SWA_MAX_N_FIELD_NUMBER: _ClassVar[int]
    NUM_BATCH_SPLITS_FIELD_NUMBER: _ClassVar[int]
    NEW_OPTIMIZER_FIELD_NUMBER: _ClassVar[int]
    LOOKAHEAD_OPTIMIZER_FIELD_NUMBER: _ClassVar[int]
    WEIGHT_DECAY_UNSCALED_FIELD_NUMBER: _ClassVar[int]
    CONSTANT_LR_FIELD_NUMBER: _ClassVar[int]
    COSINE_DECAY_FIELD_NUMBER: _ClassVar[int]
    LINEAR_DECAY_FIELD_NUMBER: _ClassVar[int]
    REG_TERM_WEIGHT_FIELD_NUMBER: _ClassVar[int]
    Q_RATIO_FIELD_NUMBER: _ClassVar[int]
    LOSS_WEIGHTS_FIELD_NUMBER: _ClassVar[int]
    MASK_LEGAL_MOVES_FIELD_NUMBER: _ClassVar[int]
    POLICY_LOSS_FIELD_NUMBER: _ClassVar[int]
    VALUE_Q_SOURCE_FIELD_NUMBER: _ClassVar[int]
    batch_size: int
    total_steps: int
    test_steps: int
    validation_steps: int
    checkpoint_steps: int
    train_avg_report_steps: int
    num_test_positions: int
    shuffle_size: int
    lr_values: _containers.RepeatedScalarFieldContainer[float]
    lr_boundaries: _containers.RepeatedScalarFieldContainer[int]
    warmup_steps: int
    optimizer: Optimizer
    momentum: float
    beta_1: float
    beta_2: float
    epsilon: float
    weight_decay: float
    max_grad_norm: float
    policy_loss_weight: float
    value_loss_weight: float
    moves_left_loss_weight: float
    max_to_keep: int
    precision: Precision
    loss_scale: float
    dynamic_loss_scale: bool
    swa: bool
    swa_steps: int
    swa_max_n: int
    num_batch_splits: int
    new_optimizer: bool
    lookahead_optimizer: bool
    weight_decay_unscaled: bool
    constant_lr: ConstantLr
    cosine_decay: DecayLr
    linear_decay: DecayLr
    reg_term_weight: float
    q_ratio: float
    loss_weights: LossWeights
    mask_legal_moves: bool
    policy_loss: PolicyLoss
    value_q_source: ValueQSource
    def __init__(self, batch_size: _Optional[int] = ..., total_steps: _Optional[int] = ..., test_steps: _Optional[int] = ..., validation_steps: _Optional[int] = ..., checkpoint_steps: _Optional[int] = ..., train_avg_report_steps: _Optional[int] = ..., num_test_positions: _Optional[int] = ..., shuffle_size: _Optional[int] = ..., lr_values: _Optional[_Iterable[float]] = ..., lr_boundaries: _Optional[_Iterable[int]] = ..., warmup_steps: _Optional[int] = ..., optimizer: _Optional[_Union[Optimizer, str]] = ..., momentum: _Optional[float] = ..., beta_1: _Optional[float] = ..., beta_2: _Optional[float] = ..., epsilon: _Optional[float] = ..., weight_decay: _Optional[float] = ..., max_grad_norm: _Optional[float] = ..., policy_loss_weight: _Optional[float] = ..., value_loss_weight: _Optional[float] = ..., moves_left_loss_weight: _Optional[float] = ..., max_to_keep: _Optional[int] = ..., precision: _Optional[_Union[Precision, str]] = ..., loss_scale: _Optional[float] = ..., dynamic_loss_scale: _Optional[bool] = ..., swa: _Optional[bool] = ..., swa_steps: _Optional[int] = ..., swa_max_n: _Optional[int] = ..., num_batch_splits: _Optional[int] = ..., new_optimizer: _Optional[bool] = ..., lookahead_optimizer: _Optional[bool] = ..., weight_decay_unscaled: _Optional[bool] = ..., constant_lr: _Optional[_Union[ConstantLr, _Mapping]] = ..., cosine_decay: _Optional[_Union[DecayLr, _Mapping]] = ..., linear_decay: _Optional[_Union[DecayLr, _Mapping]] = ..., reg_term_weight: _Optional[float] = ..., q_ratio: _Optional[float] = ..., loss_weights: _Optional[_Union[LossWeights, _Mapping]] = ..., mask_legal_moves: _Optional[bool] = ..., policy_loss: _Optional[_Union[PolicyLoss, str]] = ..., value_q_source: _Optional[_Union[ValueQSource, str]] = ...) -> None: ...
