from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable
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
OPTIMIZER_UNSPECIFIED: Optimizer
SGD: Optimizer
ADAM: Optimizer
NADAM: Optimizer
ADAMW: Optimizer
NADAMW: Optimizer

class TrainingConfig(_message.Message):
    __slots__ = ("batch_size", "total_steps", "test_steps", "validation_steps", "checkpoint_steps", "train_avg_report_steps", "num_test_positions", "shuffle_size", "lr_values", "lr_boundaries", "warmup_steps", "optimizer", "momentum", "beta_1", "beta_2", "epsilon", "weight_decay", "max_grad_norm", "policy_loss_weight", "value_loss_weight", "moves_left_loss_weight", "max_to_keep")
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
    def __init__(self, batch_size: _Optional[int] = ..., total_steps: _Optional[int] = ..., test_steps: _Optional[int] = ..., validation_steps: _Optional[int] = ..., checkpoint_steps: _Optional[int] = ..., train_avg_report_steps: _Optional[int] = ..., num_test_positions: _Optional[int] = ..., shuffle_size: _Optional[int] = ..., lr_values: _Optional[_Iterable[float]] = ..., lr_boundaries: _Optional[_Iterable[int]] = ..., warmup_steps: _Optional[int] = ..., optimizer: _Optional[_Union[Optimizer, str]] = ..., momentum: _Optional[float] = ..., beta_1: _Optional[float] = ..., beta_2: _Optional[float] = ..., epsilon: _Optional[float] = ..., weight_decay: _Optional[float] = ..., max_grad_norm: _Optional[float] = ..., policy_loss_weight: _Optional[float] = ..., value_loss_weight: _Optional[float] = ..., moves_left_loss_weight: _Optional[float] = ..., max_to_keep: _Optional[int] = ...) -> None: ...
