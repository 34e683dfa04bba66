"""Turning decoded RTMP values (AMF trees, message fields) into JSON-ready values."""

from __future__ import annotations

import base64
import dataclasses
import datetime
import enum
import hashlib
import math
from collections.abc import Mapping
from typing import Any

from rtmp_actors.protocol.amf import UNDEFINED, TypedObject

__all__ = ["event_record", "to_jsonable"]


def to_jsonable(value: Any) -> Any:
    """Convert ``value`` into something :func:`json.dumps` accepts, losing as little as possible.

    Bytes become ``{"base64": ...}``, dates ISO strings, non-finite floats strings, AMF
    ``undefined`` the string ``"undefined"``, and typed objects carry their class name under
    ``"__class__"``.
    """
    if isinstance(value, enum.Enum):
        return to_jsonable(value.value)
    if value is None or isinstance(value, bool | int | str):
        return value
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


def event_record(event: Any) -> dict[str, Any]:
    """One session event as a JSON-ready dict: ``{"event": "<ClassName>", ...fields...}``.

    Media payloads are summarised as ``length`` and ``sha1`` instead of their bytes.
    """
    record: dict[str, Any] = {"event": type(event).__name__}
    fields = getattr(event, "__dataclass_fields__", {})
    for name in fields:
        value = getattr(event, name)
        if name == "data" and isinstance(value, bytes | bytearray | memoryview):
            payload = bytes(value)
            record["length"] = len(payload)
            record["sha1"] = hashlib.sha1(payload).hexdigest()
        elif dataclasses.is_dataclass(value) and not isinstance(value, type):
            record[name] = to_jsonable(
                {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
            )
        else:
            record[name] = to_jsonable(value)
    return record
