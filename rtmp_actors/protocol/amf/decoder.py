"""AMF0 and AMF3 decoding: the only module in rtmp_actors that imports ``pyamf``.

Decoding subclasses pyamf's AMF0 and AMF3 decoders and replaces every reader a peer could abuse.
Whatever the bytes, :func:`decode_values` returns plain Python values (see
:mod:`~rtmp_actors.protocol.amf.values`) or raises
:class:`~rtmp_actors.errors.RemoteProtocolError`. Depth, reference and length checks live in
:mod:`~rtmp_actors.protocol.amf._guard`; the readers here add:

* AMF3 ByteArrays come back as raw ``bytes``: pyamf's automatic zlib decompression (a
  decompression bomb) is never reached.
* XML documents come back as the raw string; no XML parser ever sees peer bytes.
* Typed objects and AMF3 class aliases become :class:`TypedObject` dicts. pyamf's class registry
  (which maps wire aliases to Python classes, ``flex.messaging.io.ArrayCollection`` and friends
  included) is never consulted, so the wire cannot instantiate Python classes.

Both decoder classes stay in this one module so that exactly one module depends on pyamf.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from datetime import datetime
from typing import Any, Final

import pyamf
import pyamf.amf0
import pyamf.amf3
from pyamf.util.pure import BufferedByteStream

from rtmp_actors.errors import ProtocolError, RemoteProtocolError
from rtmp_actors.limits import DEFAULT_LIMITS, Limits
from rtmp_actors.protocol.amf._guard import EXPANSION_FACTOR, _DecodeState, _Guard
from rtmp_actors.protocol.amf.values import (
    UNDEFINED,
    AmfValue,
    EcmaArray,
    TypedObject,
    _date_from_ms,
    _number,
    _Undefined,
)

__all__ = ["decode_values"]

# Flex externalizable classes whose body is a single AMF3 value, and the key that value gets.
_FLEX_WRAPPERS: Final = {
    "flex.messaging.io.ArrayCollection": "source",
    "flex.messaging.io.ObjectProxy": "object",
}


_AMF0_NAMES: Final = {
    0x04: "MovieClip",
    0x09: "object-end",
    0x0E: "RecordSet",
}


class _Amf0Decoder(_Guard, pyamf.amf0.Decoder):  # type: ignore[misc]  # pyamf is untyped
    """pyamf's AMF0 decoder with every reader a peer could abuse replaced."""

    def __init__(self, stream: BufferedByteStream, state: _DecodeState) -> None:
        super().__init__(stream, strict=True)
        self._state = state
        self._objects: list[Any] = []
        self._amf3: _Amf3Decoder | None = None
        self._readers: dict[bytes, Callable[[], Any]] = {
            b"\x00": self.readNumber,
            b"\x01": self.readBoolean,
            b"\x02": self.readString,
            b"\x03": self.readObject,
            b"\x05": self.readNull,
            b"\x06": self.readUndefined,
            b"\x07": self.readReference,
            b"\x08": self.readMixedArray,
            b"\x0a": self.readList,
            b"\x0b": self.readDate,
            b"\x0c": self.readLongString,
            b"\x0d": self.readNull,  # "unsupported": the sender had nothing to put here
            b"\x0f": self.readXML,
            b"\x10": self.readTypedObject,
            b"\x11": self.readAMF3,
        }

    def getTypeFunc(self, data: bytes) -> Callable[[], Any]:  # noqa: N802
        """Return the reader for a type marker; raise on an unknown one."""
        reader = self._readers.get(data)
        if reader is None:
            marker = data[0]
            name = _AMF0_NAMES.get(marker, "unknown")
            msg = f"unsupported AMF0 type marker 0x{marker:02x} ({name})"
            raise self._fail(msg)
        return reader

    def readNumber(self) -> int | float:  # noqa: N802
        """Read a double (integral values come back as int)."""
        return _number(self.stream.read_double())

    def readString(self) -> str:  # noqa: N802
        """Read a string with a 16-bit length."""
        return self._read_utf8(self.stream.read_ushort(), "AMF0 string")

    def readLongString(self) -> str:  # noqa: N802
        """Read a string with a 32-bit length."""
        return self._read_utf8(self.stream.read_ulong(), "AMF0 long string")

    def readXML(self) -> str:  # noqa: N802
        """Read an XML document as its raw text; it is never parsed."""
        return self._read_utf8(self.stream.read_ulong(), "AMF0 XML document")

    def readUndefined(self) -> _Undefined:  # noqa: N802
        """Read ``undefined``."""
        return UNDEFINED

    def readDate(self) -> datetime:  # noqa: N802
        """Read a date (the time zone field is ignored, as the spec says)."""
        ms = self.stream.read_double()
        self.stream.read_short()
        return _date_from_ms(ms)

    def _read_properties(self, container: dict[str, Any], what: str) -> None:
        self._enter(container, what)
        self._objects.append(container)
        stream = self.stream
        while True:
            key = self._read_utf8(stream.read_ushort(), f"{what} key")
            if not key:
                if stream.read(1) == b"\x09":
                    break
                stream.seek(-1, 1)
            container[key] = self.readElement()
        self._leave(container)

    def readObject(self) -> dict[str, Any]:  # noqa: N802
        """Read an anonymous object."""
        result: dict[str, Any] = {}
        self._read_properties(result, "AMF0 object")
        return result

    def readMixedArray(self) -> EcmaArray:  # noqa: N802
        """Read an ECMA array; its count is ignored (senders get it wrong) and keys stay str."""
        self.stream.read_ulong()
        result = EcmaArray()
        self._read_properties(result, "AMF0 ECMA array")
        return result

    def readTypedObject(self) -> TypedObject:  # noqa: N802
        """Read a typed object into a TypedObject, never a registered Python class."""
        class_name = self.readString()
        result = TypedObject(class_name)
        self._read_properties(result, f"AMF0 typed object {class_name!r}")
        return result

    def readList(self) -> list[Any]:  # noqa: N802
        """Read a strict array."""
        count = self.stream.read_ulong()
        self._claim(count, 1, "AMF0 strict array")
        result: list[Any] = []
        self._enter(result, "AMF0 strict array")
        self._objects.append(result)
        read = self.readElement
        result.extend(read() for _ in range(count))
        self._leave(result)
        return result

    def readReference(self) -> Any:  # noqa: N802
        """Read a reference to an earlier object, array or typed object."""
        return self._referenced(self._objects, self.stream.read_ushort(), "AMF0")

    def readAMF3(self) -> Any:  # noqa: N802
        """Read one AMF3 value (the switch marker was counted as this value's depth)."""
        if self._amf3 is None:
            self._amf3 = _Amf3Decoder(self.stream, self._state)
        return self._amf3._readElement()


_VECTOR_FORMATS: Final = {0x0D: ("i", 4), 0x0E: ("I", 4), 0x0F: ("d", 8)}


class _Amf3Decoder(_Guard, pyamf.amf3.Decoder):  # type: ignore[misc]  # pyamf is untyped
    """pyamf's AMF3 decoder with every reader a peer could abuse replaced."""

    def __init__(self, stream: BufferedByteStream, state: _DecodeState) -> None:
        super().__init__(stream, strict=True, use_proxies=False)
        self._state = state
        self._strings: list[str] = []
        self._objects: list[Any] = []
        self._traits: list[tuple[str, bool, bool, tuple[str, ...]]] = []
        self._readers: dict[bytes, Callable[[], Any]] = {
            b"\x00": self.readUndefined,
            b"\x01": self.readNull,
            b"\x02": self.readBoolFalse,
            b"\x03": self.readBoolTrue,
            b"\x04": self.readInteger,
            b"\x05": self.readNumber,
            b"\x06": self.readString,
            b"\x07": self.readXML,
            b"\x08": self.readDate,
            b"\x09": self.readArray,
            b"\x0a": self.readObject,
            b"\x0b": self.readXML,
            b"\x0c": self.readByteArray,
            b"\x0d": self._read_int_vector,
            b"\x0e": self._read_uint_vector,
            b"\x0f": self._read_double_vector,
            b"\x10": self._read_object_vector,
            b"\x11": self.readDictionary,
        }

    def getTypeFunc(self, data: bytes) -> Callable[[], Any]:  # noqa: N802
        """Return the reader for a type marker; raise on an unknown one."""
        reader = self._readers.get(data)
        if reader is None:
            msg = f"unsupported AMF3 type marker 0x{data[0]:02x}"
            raise self._fail(msg)
        return reader

    def _read_u29(self) -> int:
        # pyamf's decode_int mangles unsigned values of 2^28 and up; this follows the spec.
        read: Callable[[], int] = self.stream.read_uchar
        byte = read()
        if byte < 0x80:
            return int(byte)
        value = (byte & 0x7F) << 7
        byte = read()
        if byte < 0x80:
            return value | byte
        value = (value | (byte & 0x7F)) << 7
        byte = read()
        if byte < 0x80:
            return value | byte
        return ((value | (byte & 0x7F)) << 8) | read()

    def readInteger(self, signed: bool = True) -> int:  # noqa: N802
        """Read a 29-bit integer (signed unless told otherwise)."""
        value = self._read_u29()
        if signed and value & 0x10000000:
            value -= 0x20000000
        return value

    def readNumber(self) -> int | float:  # noqa: N802
        """Read a double (integral values come back as int)."""
        return _number(self.stream.read_double())

    def readUndefined(self) -> _Undefined:  # noqa: N802
        """Read ``undefined``."""
        return UNDEFINED

    def _read_utf8_ref(self) -> str:
        header = self._read_u29()
        if not header & 1:
            index = header >> 1
            if index >= len(self._strings):
                msg = f"AMF3 string reference {index} points past the {len(self._strings)} known"
                raise self._fail(msg)
            return self._strings[index]
        text = self._read_utf8(header >> 1, "AMF3 string")
        if text:
            self._strings.append(text)
        return text

    def readString(self) -> str:  # noqa: N802
        """Read a string (inline or by reference)."""
        return self._read_utf8_ref()

    def _object_reference(self, header: int, what: str) -> tuple[bool, Any]:
        if header & 1:
            return False, None
        return True, self._referenced(self._objects, header >> 1, what)

    def readXML(self) -> str:  # noqa: N802
        """Read an XML or XMLDocument value as its raw text; it is never parsed."""
        header = self._read_u29()
        is_ref, target = self._object_reference(header, "AMF3 XML")
        if is_ref:
            return target  # type: ignore[no-any-return]
        text = self._read_utf8(header >> 1, "AMF3 XML")
        self._objects.append(text)
        return text

    def readDate(self) -> datetime:  # noqa: N802
        """Read a date."""
        header = self._read_u29()
        is_ref, target = self._object_reference(header, "AMF3 date")
        if is_ref:
            return target  # type: ignore[no-any-return]
        result = _date_from_ms(self.stream.read_double())
        self._objects.append(result)
        return result

    def readByteArray(self) -> bytes:  # noqa: N802
        """Read a ByteArray as raw bytes; never decompressed, whatever its first bytes."""
        header = self._read_u29()
        is_ref, target = self._object_reference(header, "AMF3 ByteArray")
        if is_ref:
            return target  # type: ignore[no-any-return]
        result = self._read_exact(header >> 1, "AMF3 ByteArray")
        self._objects.append(result)
        return result

    def readArray(self) -> list[Any] | EcmaArray:  # noqa: N802
        """Read an array: a list when it has no named members, else an EcmaArray.

        In an EcmaArray the dense members follow the named ones under the keys "0", "1", ...
        """
        header = self._read_u29()
        is_ref, target = self._object_reference(header, "AMF3 array")
        if is_ref:
            return target  # type: ignore[no-any-return]
        count = header >> 1
        key = self._read_utf8_ref()
        read = self.readElement
        if not key:
            self._claim(count, 1, "AMF3 array")
            dense: list[Any] = []
            self._enter(dense, "AMF3 array")
            self._objects.append(dense)
            dense.extend(read() for _ in range(count))
            self._leave(dense)
            return dense
        mixed = EcmaArray()
        self._enter(mixed, "AMF3 array")
        self._objects.append(mixed)
        while key:
            mixed[key] = read()
            key = self._read_utf8_ref()
        self._claim(count, 1, "AMF3 array")
        for index in range(count):
            mixed[str(index)] = read()
        self._leave(mixed)
        return mixed

    def readObject(self) -> Any:  # noqa: N802
        """Read an object into a dict or TypedObject, never a registered Python class."""
        header = self._read_u29()
        is_ref, target = self._object_reference(header, "AMF3 object")
        if is_ref:
            return target
        if not header & 2:
            index = header >> 2
            if index >= len(self._traits):
                msg = f"AMF3 traits reference {index} points past the {len(self._traits)} known"
                raise self._fail(msg)
            class_name, external, dynamic, sealed = self._traits[index]
        else:
            external = bool(header & 4)
            dynamic = bool(header & 8)
            sealed_count = 0 if external else header >> 4
            class_name = self._read_utf8_ref()
            self._claim(sealed_count, 1, "AMF3 traits")
            sealed = tuple(self._read_utf8_ref() for _ in range(sealed_count))
            self._traits.append((class_name, external, dynamic, sealed))
        what = f"AMF3 object {class_name!r}" if class_name else "AMF3 object"
        result: dict[str, Any] = TypedObject(class_name) if class_name else {}
        if external:
            wrapped_key = _FLEX_WRAPPERS.get(class_name)
            if wrapped_key is None:
                msg = f"externalizable {what} has a private encoding and cannot be decoded"
                raise self._fail(msg)
            sealed = (wrapped_key,)
            dynamic = False
        self._enter(result, what)
        self._objects.append(result)
        read = self.readElement
        self._claim(len(sealed), 1, what)
        for name in sealed:
            result[name] = read()
        if dynamic:
            key = self._read_utf8_ref()
            while key:
                result[key] = read()
                key = self._read_utf8_ref()
        self._leave(result)
        return result

    def readDictionary(self) -> Any:  # noqa: N802
        """Read a Dictionary into a dict; its keys must be hashable (no objects or arrays)."""
        header = self._read_u29()
        is_ref, target = self._object_reference(header, "AMF3 dictionary")
        if is_ref:
            return target
        count = header >> 1
        self.stream.read_uchar()  # weak keys flag
        self._claim(count, 2, "AMF3 dictionary")
        result: dict[Any, Any] = {}
        self._enter(result, "AMF3 dictionary")
        self._objects.append(result)
        read = self.readElement
        for _ in range(count):
            key = read()
            value = read()
            try:
                result[key] = value
            except TypeError:
                msg = f"AMF3 dictionary key of type {type(key).__name__} is not supported"
                raise self._fail(msg) from None
        self._leave(result)
        return result

    def _read_vector(self, marker: int) -> list[Any]:
        header = self._read_u29()
        is_ref, target = self._object_reference(header, "AMF3 vector")
        if is_ref:
            return target  # type: ignore[no-any-return]
        count = header >> 1
        self.stream.read_uchar()  # fixed-length flag
        result: list[Any] = []
        self._enter(result, "AMF3 vector")
        self._objects.append(result)
        if marker == 0x10:
            self._read_utf8_ref()  # element type name, informational
            self._claim(count, 1, "AMF3 vector")
            read = self.readElement
            result.extend(read() for _ in range(count))
        else:
            code, size = _VECTOR_FORMATS[marker]
            raw = self._read_exact(count * size, "AMF3 vector")
            items = struct.unpack(f">{count}{code}", raw)
            if code == "d":
                result.extend(_number(item) for item in items)
            else:
                result.extend(items)
            self._state.values += count
        self._leave(result)
        return result

    def _read_int_vector(self) -> list[Any]:
        return self._read_vector(0x0D)

    def _read_uint_vector(self) -> list[Any]:
        return self._read_vector(0x0E)

    def _read_double_vector(self) -> list[Any]:
        return self._read_vector(0x0F)

    def _read_object_vector(self) -> list[Any]:
        return self._read_vector(0x10)


def decode_values(
    payload: bytes | bytearray | memoryview, limits: Limits = DEFAULT_LIMITS
) -> list[AmfValue]:
    """Decode every AMF0 value in ``payload``, following AMF0-to-AMF3 switch markers.

    AMF3 reference tables (strings, objects, traits) last for the whole payload, as in pyamf.

    Args:
        payload: The bytes: AMF0 values back to back (an empty payload has none).
        limits: ``max_amf_depth`` bounds the nesting of objects and arrays.

    Returns:
        The decoded values.

    Raises:
        RemoteProtocolError: On any malformed input, or nesting deeper than
            ``limits.max_amf_depth``.
    """
    data = bytes(payload)
    state = _DecodeState(limits.max_amf_depth, EXPANSION_FACTOR * len(data) + 16)
    stream = BufferedByteStream(data)
    decoder = _Amf0Decoder(stream, state)
    values: list[AmfValue] = []
    end = len(data)
    try:
        while stream.tell() < end:
            values.append(decoder.readElement())
    except ProtocolError:
        raise
    except RecursionError:
        msg = f"AMF data nests too deeply for the Python stack (at byte {stream.tell()})"
        raise RemoteProtocolError(msg) from None
    except (OSError, EOFError, pyamf.EOStream, struct.error):
        msg = f"AMF data is truncated (at byte {stream.tell()} of {end})"
        raise RemoteProtocolError(msg) from None
    except (pyamf.BaseError, ValueError, OverflowError) as error:
        msg = f"malformed AMF data at byte {stream.tell()}: {error}"
        raise RemoteProtocolError(msg) from None
    return values
