"""Turning decoded RTMP values (AMF trees, message fields) into JSON-ready values."""

from __future__ import annotations

import base64
import datetime
import enum
import math
from collections.abc import Mapping
from typing import Any

from rtmp_actors.protocol.amf import UNDEFINED, TypedObject

__all__ = ["to_jsonable"]


def to_jsonable(value: Any) -> Any:
    """Convert ``value`` into something :func:`json.dumps` accepts, losing as little as possible.

    Bytes become ``{"base64": ...}``, dates ISO strings, non-finite floats strings, AMF
    ``undefined`` the string ``"undefined"``, and typed objects carry their class name under
    ``"__class__"``.
    """
    if value is None or isinstance(value, bool | int | str):
        return value.value if isinstance(value, enum.Enum) else value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return {"base64": base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, datetime.datetime | datetime.date):
        return value.isoformat()
    if value is UNDEFINED:
        return "undefined"
    if isinstance(value, Mapping):
        converted = {str(key): to_jsonable(item) for key, item in value.items()}
        if isinstance(value, TypedObject):
            converted["__class__"] = value.class_name
        return converted
    if isinstance(value, list | tuple | set | frozenset):
        return [to_jsonable(item) for item in value]
    return repr(value)
