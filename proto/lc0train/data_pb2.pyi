from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class SortType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SORT_TYPE_NUMBER: _ClassVar[SortType]
    SORT_TYPE_MTIME: _ClassVar[SortType]
    SORT_TYPE_NAME: _ClassVar[SortType]
SORT_TYPE_NUMBER: SortType
SORT_TYPE_MTIME: SortType
SORT_TYPE_NAME: SortType

class DataConfig(_message.Message):
    __slots__ = ("input_train", "input_test", "input_validation", "input", "train_ratio", "prefetch_batches", "sample", "diff_focus_min", "diff_focus_slope", "diff_focus_q_weight", "diff_focus_pol_scale", "num_chunks", "allow_less_chunks", "sort_type")
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
    NUM_CHUNKS_FIELD_NUMBER: _ClassVar[int]
    ALLOW_LESS_CHUNKS_FIELD_NUMBER: _ClassVar[int]
    SORT_TYPE_FIELD_NUMBER: _ClassVar[int]
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
    num_chunks: int
    allow_less_chunks: bool
    sort_type: SortType
    def __init__(self, input_train: _Optional[_Iterable[str]] = ..., input_test: _Optional[_Iterable[str]] = ..., input_validation: _Optional[_Iterable[str]] = ..., input: _Optional[_Iterable[str]] = ..., train_ratio: _Optional[float] = ..., prefetch_batches: _Optional[int] = ..., sample: _Optional[int] = ..., diff_focus_min: _Optional[float] = ..., diff_focus_slope: _Optional[float] = ..., diff_focus_q_weight: _Optional[float] = ..., diff_focus_pol_scale: _Optional[float] = ..., num_chunks: _Optional[int] = ..., allow_less_chunks: _Optional[bool] = ..., sort_type: _Optional[_Union[SortType, str]] = ...) -> None: ...
