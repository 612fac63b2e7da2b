"""protobuf Struct <-> plain JSON values. Struct stores every number as a double: whole numbers come back as ints."""

from typing import Any

from google.protobuf import struct_pb2
from google.protobuf.json_format import MessageToDict


def _plain(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


def struct_to_dict(struct: struct_pb2.Struct) -> dict[str, Any]:
    result: dict[str, Any] = _plain(MessageToDict(struct))
    return result


def dict_to_struct(values: dict[str, Any]) -> struct_pb2.Struct:
    struct = struct_pb2.Struct()
    struct.update(values)
    return struct
