from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ExportConfig(_message.Message):
    __slots__ = ("enabled", "destination", "upload")
    ENABLED_FIELD_NUMBER: _ClassVar[int]
    DESTINATION_FIELD_NUMBER: _ClassVar[int]
    UPLOAD_FIELD_NUMBER: _ClassVar[int]
    enabled: bool
    destination: _containers.RepeatedScalarFieldContainer[str]
    upload: UploadConfig
    def __init__(self, enabled: _Optional[bool] = ..., destination: _Optional[_Iterable[str]] = ..., upload: _Optional[_Union[UploadConfig, _Mapping]] = ...) -> None: ...

class UploadConfig(_message.Message):
    __slots__ = ("url", "training_id", "password_file", "password_env", "max_attempts", "retry_delay_s")
    URL_FIELD_NUMBER: _ClassVar[int]
    TRAINING_ID_FIELD_NUMBER: _ClassVar[int]
    PASSWORD_FILE_FIELD_NUMBER: _ClassVar[int]
    PASSWORD_ENV_FIELD_NUMBER: _ClassVar[int]
    MAX_ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    RETRY_DELAY_S_FIELD_NUMBER: _ClassVar[int]
    url: str
    training_id: int
    password_file: str
    password_env: str
    max_attempts: int
    retry_delay_s: float
    def __init__(self, url: _Optional[str] = ..., training_id: _Optional[int] = ..., password_file: _Optional[str] = ..., password_env: _Optional[str] = ..., max_attempts: _Optional[int] = ..., retry_delay_s: _Optional[float] = ...) -> None: ...

class InitConfig(_message.Message):
    __slots__ = ("path",)
    PATH_FIELD_NUMBER: _ClassVar[int]
    path: str
    def __init__(self, path: _Optional[str] = ...) -> None: ...
