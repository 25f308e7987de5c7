from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable
from typing import ClassVar as _ClassVar, Optional as _Optional

DESCRIPTOR: _descriptor.FileDescriptor

class DataConfig(_message.Message):
    __slots__ = ("input_train", "input_test", "input_validation", "input", "train_ratio", "prefetch_batches", "sample", "diff_focus_min", "diff_focus_slope", "diff_focus_q_weight", "diff_focus_pol_scale")
    INPUT_TRAIN_FIELD_NUMBER: _ClassVar[int]
    INPUT_TEST_FIELD_NUMBER: _ClassVar[int]
    INPUT_VALIDATION_FIELD_NUMBER: _ClassVar[int]
    INPUT_FIELD_NUMBER: _ClassVar[int]
    TRAIN_RATIO_FIELD_NUMBER: _ClassVar[int]
    PREFETCH_BATCHES_FIELD_NUMBER: _ClassVar[int]
    SAMPLE_FIELD_NUMBER: _ClassVar[int]
    DIFF_FOCUS_MIN_FIELD_NUMBER: _ClassVar[int]
    DIFF_FOCUS_SLOPE_FIELD_NUMBER: _ClassVar[int]
    DIFF_FOCUS_Q_WEIGHT_FIELD_NUMBER: _ClassVar[int]
    DIFF_FOCUS_POL_SCALE_FIELD_NUMBER: _ClassVar[int]
    input_train: _containers.RepeatedScalarFieldContainer[str]
    input_test: _containers.RepeatedScalarFieldContainer[str]
    input_validation: _containers.RepeatedScalarFieldContainer[str]
    input: _containers.RepeatedScalarFieldContainer[str]
    train_ratio: float
    prefetch_batches: int
    sample: int
    diff_focus_min: float
    diff_focus_slope: float
    diff_focus_q_weight: float
    diff_focus_pol_scale: float
    def __init__(self, input_train: _Optional[_Iterable[str]] = ..., input_test: _Optional[_Iterable[str]] = ..., input_validation: _Optional[_Iterable[str]] = ..., input: _Optional[_Iterable[str]] = ..., train_ratio: _Optional[float] = ..., prefetch_batches: _Optional[int] = ..., sample: _Optional[int] = ..., diff_focus_min: _Optional[float] = ..., diff_focus_slope: _Optional[float] = ..., diff_focus_q_weight: _Optional[float] = ..., diff_focus_pol_scale: _Optional[float] = ...) -> None: ...
