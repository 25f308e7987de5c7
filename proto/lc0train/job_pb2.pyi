from lc0train import data_pb2 as _data_pb2
from lc0train import lc0net_pb2 as _lc0net_pb2
from lc0train import model_pb2 as _model_pb2
from lc0train import training_pb2 as _training_pb2
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class MeshShape(_message.Message):
    __slots__ = ("data", "fsdp")
    DATA_FIELD_NUMBER: _ClassVar[int]
    FSDP_FIELD_NUMBER: _ClassVar[int]
    data: int
    fsdp: int
    def __init__(self, data: _Optional[int] = ..., fsdp: _Optional[int] = ...) -> None: ...

class Accelerator(_message.Message):
    __slots__ = ("kind", "tpu_type")
    class Kind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        CPU: _ClassVar[Accelerator.Kind]
        GPU: _ClassVar[Accelerator.Kind]
        TPU: _ClassVar[Accelerator.Kind]
    CPU: Accelerator.Kind
    GPU: Accelerator.Kind
    TPU: Accelerator.Kind
    KIND_FIELD_NUMBER: _ClassVar[int]
    TPU_TYPE_FIELD_NUMBER: _ClassVar[int]
    kind: Accelerator.Kind
    tpu_type: str
    def __init__(self, kind: _Optional[_Union[Accelerator.Kind, str]] = ..., tpu_type: _Optional[str] = ...) -> None: ...

class ResourceConfig(_message.Message):
    __slots__ = ("hosts", "devices_per_host", "mesh", "accelerator")
    HOSTS_FIELD_NUMBER: _ClassVar[int]
    DEVICES_PER_HOST_FIELD_NUMBER: _ClassVar[int]
    MESH_FIELD_NUMBER: _ClassVar[int]
    ACCELERATOR_FIELD_NUMBER: _ClassVar[int]
    hosts: int
    devices_per_host: int
    mesh: MeshShape
    accelerator: Accelerator
    def __init__(self, hosts: _Optional[int] = ..., devices_per_host: _Optional[int] = ..., mesh: _Optional[_Union[MeshShape, _Mapping]] = ..., accelerator: _Optional[_Union[Accelerator, _Mapping]] = ...) -> None: ...

class JobSpec(_message.Message):
    __slots__ = ("name", "seed", "model", "training", "dataset", "resources", "export", "init_from", "continuous")
    NAME_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    TRAINING_FIELD_NUMBER: _ClassVar[int]
    DATASET_FIELD_NUMBER: _ClassVar[int]
    RESOURCES_FIELD_NUMBER: _ClassVar[int]
    EXPORT_FIELD_NUMBER: _ClassVar[int]
    INIT_FROM_FIELD_NUMBER: _ClassVar[int]
    CONTINUOUS_FIELD_NUMBER: _ClassVar[int]
    name: str
    seed: int
    model: _model_pb2.ModelConfig
    training: _training_pb2.TrainingConfig
    dataset: _data_pb2.DataConfig
    resources: ResourceConfig
    export: _lc0net_pb2.ExportConfig
    init_from: _lc0net_pb2.InitConfig
    continuous: ContinuousConfig
    def __init__(self, name: _Optional[str] = ..., seed: _Optional[int] = ..., model: _Optional[_Union[_model_pb2.ModelConfig, _Mapping]] = ..., training: _Optional[_Union[_training_pb2.TrainingConfig, _Mapping]] = ..., dataset: _Optional[_Union[_data_pb2.DataConfig, _Mapping]] = ..., resources: _Optional[_Union[ResourceConfig, _Mapping]] = ..., export: _Optional[_Union[_lc0net_pb2.ExportConfig, _Mapping]] = ..., init_from: _Optional[_Union[_lc0net_pb2.InitConfig, _Mapping]] = ..., continuous: _Optional[_Union[ContinuousConfig, _Mapping]] = ...) -> None: ...

class ContinuousConfig(_message.Message):
    __slots__ = ("chunks_per_network", "steps_per_network", "max_networks", "max_steps", "poll_interval_s")
    CHUNKS_PER_NETWORK_FIELD_NUMBER: _ClassVar[int]
    STEPS_PER_NETWORK_FIELD_NUMBER: _ClassVar[int]
    MAX_NETWORKS_FIELD_NUMBER: _ClassVar[int]
    MAX_STEPS_FIELD_NUMBER: _ClassVar[int]
    POLL_INTERVAL_S_FIELD_NUMBER: _ClassVar[int]
    chunks_per_network: int
    steps_per_network: int
    max_networks: int
    max_steps: int
    poll_interval_s: float
    def __init__(self, chunks_per_network: _Optional[int] = ..., steps_per_network: _Optional[int] = ..., max_networks: _Optional[int] = ..., max_steps: _Optional[int] = ..., poll_interval_s: _Optional[float] = ...) -> None: ...
