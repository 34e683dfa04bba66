"""AMF0 and AMF3 encoding, written here directly rather than through pyamf.

pyamf's encoders emit references and consult the class registry; here no references of any
kind are written, so every peer can read the result. A value AMF cannot carry is the caller's
mistake and raises :class:`~rtmp_actors.errors.LocalProtocolError`.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Final

from rtmp_actors.errors import LocalProtocolError
from rtmp_actors.protocol.amf.values import (
    UNDEFINED,
    AmfValue,
    EcmaArray,
    TypedObject,
    _ms_from_date,
)

__all__ = ["encode_values"]

_DOUBLE = struct.Struct(">d")
_U16 = struct.Struct(">H")
_U32 = struct.Struct(">I")


def _u29(value: int) -> bytes:
    if value < 0x80:
        return bytes((value,))
    if value < 0x4000:
        return bytes((value >> 7 | 0x80, value & 0x7F))
    if value < 0x200000:
        return bytes((value >> 14 | 0x80, (value >> 7) & 0x7F | 0x80, value & 0x7F))
    if value < 0x20000000:
        return bytes(
            (
                value >> 22 | 0x80,
                (value >> 15) & 0x7F | 0x80,
                (value >> 8) & 0x7F | 0x80,
                value & 0xFF,
            )
        )
    msg = f"{value} does not fit an AMF3 29-bit length"
    raise LocalProtocolError(msg)


def _double(value: float) -> bytes:
    try:
        return _DOUBLE.pack(float(value))
    except OverflowError:
        msg = f"number {value} is too large for an AMF double"
        raise LocalProtocolError(msg) from None


def _key(key: object) -> str:
    if isinstance(key, str):
        return key
    if isinstance(key, int) and not isinstance(key, bool):
        return str(key)
    msg = f"AMF object keys must be str (or int), not {type(key).__name__}"
    raise LocalProtocolError(msg)


class _Encoder:
    """Shared container bookkeeping: cycles are refused because no references are written."""

    __slots__ = ("out", "path")

    def __init__(self, out: bytearray) -> None:
        self.out = out
        self.path: set[int] = set()

    def _open(self, container: object) -> None:
        if id(container) in self.path:
            msg = "cannot encode a value that contains itself"
            raise LocalProtocolError(msg)
        self.path.add(id(container))

    def _close(self, container: object) -> None:
        self.path.discard(id(container))


class _Amf0Encoder(_Encoder):
    __slots__ = ()

    def _utf8(self, text: str) -> None:
        raw = text.encode("utf-8")
        if len(raw) > 0xFFFF:
            msg = f"AMF0 key or class name of {len(raw)} bytes exceeds 65535"
            raise LocalProtocolError(msg)
        self.out += _U16.pack(len(raw))
        self.out += raw

    def _properties(self, container: dict[Any, Any]) -> None:
        self._open(container)
        for key, value in container.items():
            self._utf8(_key(key))
            self.write(value)
        self.out += b"\x00\x00\x09"
        self._close(container)

    def write(self, value: Any) -> None:
        out = self.out
        if value is None:
            out += b"\x05"
        elif value is UNDEFINED:
            out += b"\x06"
        elif isinstance(value, bool):
            out += b"\x01\x01" if value else b"\x01\x00"
        elif isinstance(value, int | float):
            out += b"\x00"
            out += _double(value)
        elif isinstance(value, str):
            raw = value.encode("utf-8")
            if len(raw) > 0xFFFF:
                out += b"\x0c"
                out += _U32.pack(len(raw))
            else:
                out += b"\x02"
                out += _U16.pack(len(raw))
            out += raw
        elif isinstance(value, TypedObject):
            out += b"\x10"
            self._utf8(value.class_name)
            self._properties(value)
        elif isinstance(value, EcmaArray):
            out += b"\x08"
            out += _U32.pack(len(value))
            self._properties(value)
        elif isinstance(value, dict):
            out += b"\x03"
            self._properties(value)
        elif isinstance(value, list | tuple):
            self._open(value)
            out += b"\x0a"
            out += _U32.pack(len(value))
            for item in value:
                self.write(item)
            self._close(value)
        elif isinstance(value, datetime):
            out += b"\x0b"
            out += _double(_ms_from_date(value))
            out += b"\x00\x00"
        elif isinstance(value, bytes | bytearray | memoryview):
            # AMF0 has no byte array: switch to AMF3 for this one value.
            out += b"\x11"
            _Amf3Encoder(out).write(value)
        else:
            msg = f"cannot encode {type(value).__name__} as AMF"
            raise LocalProtocolError(msg)


_MIN_AMF3_INT: Final = -(2**28)
_MAX_AMF3_INT: Final = 2**28 - 1


class _Amf3Encoder(_Encoder):
    __slots__ = ()

    def _utf8(self, text: str) -> None:
        raw = text.encode("utf-8")
        self.out += _u29(len(raw) << 1 | 1)
        self.out += raw

    def _members(self, container: dict[Any, Any]) -> None:
        self._open(container)
        for key, value in container.items():
            name = _key(key)
            if not name:
                msg = "AMF3 cannot encode an empty member name (it ends the member list)"
                raise LocalProtocolError(msg)
            self._utf8(name)
            self.write(value)
        self.out += b"\x01"
        self._close(container)

    def write(self, value: Any) -> None:
        out = self.out
        if value is None:
            out += b"\x01"
        elif value is UNDEFINED:
            out += b"\x00"
        elif isinstance(value, bool):
            out += b"\x03" if value else b"\x02"
        elif isinstance(value, int) and _MIN_AMF3_INT <= value <= _MAX_AMF3_INT:
            out += b"\x04"
            out += _u29(value & 0x1FFFFFFF)
        elif isinstance(value, int | float):
            out += b"\x05"
            out += _double(value)
        elif isinstance(value, str):
            out += b"\x06"
            self._utf8(value)
        elif isinstance(value, TypedObject):
            out += b"\x0a\x0b"  # inline object, inline traits, dynamic, no sealed members
            self._utf8(value.class_name)
            self._members(value)
        elif isinstance(value, EcmaArray):
            out += b"\x09\x01"  # inline array, no dense members
            self._members(value)
        elif isinstance(value, dict):
            out += b"\x0a\x0b\x01"  # ... anonymous (empty class name)
            self._members(value)
        elif isinstance(value, list | tuple):
            self._open(value)
            out += b"\x09"
            out += _u29(len(value) << 1 | 1)
            out += b"\x01"
            for item in value:
                self.write(item)
            self._close(value)
        elif isinstance(value, datetime):
            out += b"\x08\x01"
            out += _double(_ms_from_date(value))
        elif isinstance(value, bytes | bytearray | memoryview):
            raw = bytes(value)
            out += b"\x0c"
            out += _u29(len(raw) << 1 | 1)
            out += raw
        else:
            msg = f"cannot encode {type(value).__name__} as AMF"
            raise LocalProtocolError(msg)


def encode_values(values: Sequence[AmfValue], *, amf3: bool = False) -> bytes:
    """Encode values back to back.

    ``int`` and ``float`` become AMF0 numbers (AMF3: integers when they fit 29 bits), ``dict``
    an anonymous object, :class:`EcmaArray` an ECMA array, :class:`TypedObject` a typed object,
    ``list``/``tuple`` a strict array, ``datetime`` a date (naive ones are taken as UTC) and
    ``bytes`` an AMF3 ByteArray (behind a switch marker in AMF0). Strings over 65535 UTF-8
    bytes become long strings. No references are written.

    Args:
        values: The values to encode.
        amf3: Write each value as an AMF0 "switch to AMF3" marker followed by its AMF3 encoding
            (the form Enhanced RTMP v2 requires inside AMF3 commands and data).

    Returns:
        The encoded bytes.

    Raises:
        LocalProtocolError: A value (or a key) has a type AMF cannot carry, contains itself,
            nests too deeply, holds a string that is not valid Unicode, or is too large for
            its AMF field.
    """
    out = bytearray()
    try:
        if amf3:
            for value in values:
                out += b"\x11"
                _Amf3Encoder(out).write(value)
        else:
            encoder = _Amf0Encoder(out)
            for value in values:
                encoder.write(value)
    except UnicodeEncodeError as error:  # a lone surrogate: no UTF-8 form exists
        msg = f"a string cannot be encoded as UTF-8 ({error.reason} at offset {error.start})"
        raise LocalProtocolError(msg) from None
    except RecursionError:
        msg = "the value nests too deeply to encode"
        raise LocalProtocolError(msg) from None
    return bytes(out)
