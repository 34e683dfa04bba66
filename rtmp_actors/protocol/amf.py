"""AMF0 and AMF3 encoding and decoding: the only module that imports ``pyamf``.

INTERFACE STUB: the public names below are the contract the rest of the package codes against.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rtmp_actors.limits import DEFAULT_LIMITS, Limits

__all__ = ["UNDEFINED", "AmfValue", "EcmaArray", "TypedObject", "decode_values", "encode_values"]

AmfValue = Any
"""A decoded AMF value: None, bool, int, float, str, bytes, list, dict, EcmaArray, TypedObject,
datetime or UNDEFINED."""


class EcmaArray(dict[str, Any]):
    """An AMF0 ECMA array (associative array), kept apart from plain objects for round-trips."""


class TypedObject(dict[str, Any]):
    """An AMF object with a class name (AMF0 typed object, AMF3 sealed/dynamic named class)."""

    def __init__(self, class_name: str, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.class_name = class_name


class _Undefined:
    _instance: _Undefined | None = None

    def __new__(cls) -> _Undefined:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNDEFINED"

    def __bool__(self) -> bool:
        return False


UNDEFINED = _Undefined()
"""The AMF ``undefined`` value."""


def encode_values(values: Sequence[AmfValue], *, amf3: bool = False) -> bytes:
    """Encode values back to back.

    Args:
        values: The values to encode.
        amf3: Write each value as an AMF0 "switch to AMF3" marker followed by its AMF3 encoding
            (the form Enhanced RTMP v2 requires inside AMF3 commands and data).

    Returns:
        The encoded bytes.
    """
    raise NotImplementedError


def decode_values(payload: bytes, limits: Limits = DEFAULT_LIMITS) -> list[AmfValue]:
    """Decode every AMF0 value in ``payload``, following AMF0-to-AMF3 switch markers.

    Raises:
        ProtocolError: On any malformed input, or nesting deeper than ``limits.max_amf_depth``.
    """
    raise NotImplementedError
