"""AMF0 and AMF3 encoding and decoding: the only module that imports ``pyamf``.

Decoding subclasses pyamf's AMF0 and AMF3 decoders and replaces every reader a peer could abuse.
Whatever the bytes, :func:`decode_values` returns plain Python values or raises
:class:`~rtmp_actors.errors.ProtocolError`:

* Nesting of objects and arrays (AMF0 and AMF3 alike, counted across the AMF0-to-AMF3 switch) is
  bounded by ``Limits.max_amf_depth``. References cannot get around the bound: a reference to an
  enclosing object (a cycle) is rejected, a reference to a finished object counts that object's
  own depth, and references may not make the decoded tree more than :data:`EXPANSION_FACTOR`
  values per payload byte (no "billion laughs" through shared sub-trees).
* A claimed length (string, array count, ByteArray size) is checked against the bytes that are
  left before anything is read, so nothing is allocated beyond the payload.
* AMF3 ByteArrays come back as raw ``bytes``: pyamf's automatic zlib decompression (a
  decompression bomb) is never reached.
* XML documents come back as the raw string; no XML parser ever sees peer bytes.
* Typed objects and AMF3 class aliases become :class:`TypedObject` dicts. pyamf's class registry
  (which maps wire aliases to Python classes, ``flex.messaging.io.ArrayCollection`` and friends
  included) is never consulted, so the wire cannot instantiate Python classes.

Decoded values: ``None``, ``bool``, ``int`` (integral numbers), ``float``, ``str``, ``bytes``
(AMF3 ByteArray), ``list`` (strict arrays, AMF3 dense arrays and vectors), ``dict`` (anonymous
objects, AMF3 dictionaries), :class:`EcmaArray`, :class:`TypedObject`, ``datetime`` (aware, UTC)
and :data:`UNDEFINED`.

Encoding is written here directly (pyamf's encoders emit references and consult the class
registry): no references of any kind are written, so every peer can read the result.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import pyamf
import pyamf.amf0
import pyamf.amf3
from pyamf.util.pure import BufferedByteStream

from rtmp_actors.errors import ProtocolError, RemoteProtocolError
from rtmp_actors.limits import DEFAULT_LIMITS, Limits

__all__ = [
    "EXPANSION_FACTOR",
    "UNDEFINED",
    "AmfValue",
    "EcmaArray",
    "TypedObject",
    "decode_values",
    "encode_values",
]

AmfValue = Any
"""A decoded AMF value: None, bool, int, float, str, bytes, list, dict, EcmaArray, TypedObject,
datetime or UNDEFINED."""

EXPANSION_FACTOR: Final = 4
"""Most decoded values per payload byte once references are followed.

Without references every value costs at least one byte, so only references can exceed this.
"""


class EcmaArray(dict[str, Any]):
    """An AMF0 ECMA array (associative array), kept apart from plain objects for round-trips.

    Equal to a plain dict with the same items. AMF3 has no separate type: an EcmaArray is
    written as an AMF3 array with only associative members, and an empty one comes back from
    AMF3 as an empty list.
    """

    def __repr__(self) -> str:
        return f"EcmaArray({dict.__repr__(self)})"


class TypedObject(dict[str, Any]):
    """An AMF object with a class name (AMF0 typed object, AMF3 sealed/dynamic named class).

    Two typed objects are equal when their class names and items are; a typed object equals a
    plain dict with the same items.

    Attributes:
        class_name: The class alias from the wire.
    """

    def __init__(self, class_name: str, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.class_name = class_name

    def __eq__(self, other: object) -> bool:
        if isinstance(other, TypedObject) and other.class_name != self.class_name:
            return False
        return dict.__eq__(self, other)

    def __ne__(self, other: object) -> bool:
        return not self == other

    __hash__ = None  # mutable, like dict

    def __repr__(self) -> str:
        return f"TypedObject({self.class_name!r}, {dict.__repr__(self)})"


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

    def __reduce__(self) -> str:
        return "UNDEFINED"


UNDEFINED = _Undefined()
"""The AMF ``undefined`` value."""


# --- Shared helpers ---------------------------------------------------------------------------

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_MAX_EXACT_INT: Final = 2**53
_DOUBLE = struct.Struct(">d")
_U16 = struct.Struct(">H")
_U32 = struct.Struct(">I")
_S16 = struct.Struct(">h")

# Flex externalizable classes whose body is a single AMF3 value, and the key that value gets.
_FLEX_WRAPPERS: Final = {
    "flex.messaging.io.ArrayCollection": "source",
    "flex.messaging.io.ObjectProxy": "object",
}


def _number(value: float) -> int | float:
    # AMF numbers are doubles; integral ones come back as int so ids compare numerically.
    if value.is_integer() and -_MAX_EXACT_INT <= value <= _MAX_EXACT_INT:
        return int(value)
    return value


def _date_from_ms(ms: float) -> datetime:
    if not math.isfinite(ms):
        msg = f"AMF date is not a finite number of milliseconds ({ms!r})"
        raise RemoteProtocolError(msg)
    try:
        return _EPOCH + timedelta(milliseconds=ms)
    except OverflowError:
        msg = f"AMF date of {ms!r} ms since 1970 is out of range"
        raise RemoteProtocolError(msg) from None


def _ms_from_date(value: datetime) -> float:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    delta = value - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1000.0 + delta.microseconds / 1000.0


# --- Decoding ---------------------------------------------------------------------------------


class _DecodeState:
    """Bookkeeping shared by the AMF0 decoder and its AMF3 decoder for one payload."""

    __slots__ = ("budget", "depth", "max_depth", "measured", "open", "values")

    def __init__(self, max_depth: int, budget: int) -> None:
        self.max_depth = max_depth
        self.budget = budget
        self.depth = 0  # readElement nesting: the value being read is at this depth
        self.values = 0  # values decoded so far, references expanded
        self.open: set[int] = set()  # ids of containers still being read
        self.measured: dict[int, tuple[int, int]] = {}  # id -> (height, expanded size)


class _Guard:
    """Depth, cycle and expansion checks shared by both decoders (a mixin)."""

    _state: _DecodeState
    stream: Any

    def readElement(self) -> Any:  # noqa: N802  # pyamf's name
        """Read one value, counting nesting depth (pyamf's recursion point)."""
        state = self._state
        state.depth += 1
        state.values += 1
        try:
            return self._readElement()  # type: ignore[attr-defined]
        finally:
            state.depth -= 1

    def _fail(self, message: str) -> ProtocolError:
        return RemoteProtocolError(f"{message} (at byte {self.stream.tell()})")

    def _enter(self, container: Any, what: str) -> None:
        state = self._state
        if state.depth > state.max_depth:
            msg = f"{what} nesting depth exceeds max_amf_depth={state.max_depth}"
            raise self._fail(msg)
        state.open.add(id(container))

    def _leave(self, container: Any) -> None:
        self._state.open.discard(id(container))

    def _claim(self, count: int, item_size: int, what: str) -> None:
        remaining = self.stream.remaining()
        if count * item_size > remaining:
            msg = f"{what} claims {count} items but only {remaining} bytes remain"
            raise self._fail(msg)

    def _read_exact(self, size: int, what: str) -> bytes:
        remaining = self.stream.remaining()
        if size > remaining:
            msg = f"{what} claims {size} bytes but only {remaining} remain"
            raise self._fail(msg)
        data: bytes = self.stream.read(size)
        return data

    def _read_utf8(self, size: int, what: str) -> str:
        raw = self._read_exact(size, what)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as error:
            msg = f"{what} is not valid UTF-8 ({error.reason} at offset {error.start})"
            raise self._fail(msg) from None

    def _referenced(self, table: list[Any], index: int, what: str) -> Any:
        if index >= len(table):
            msg = f"{what} reference {index} points past the {len(table)} known objects"
            raise self._fail(msg)
        target = table[index]
        state = self._state
        if id(target) in state.open:
            msg = f"{what} reference {index} points to an enclosing object (cycles unsupported)"
            raise self._fail(msg)
        height, size = self._measure(target)
        if state.depth - 1 + height > state.max_depth:
            msg = f"{what} reference {index} nests deeper than max_amf_depth={state.max_depth}"
            raise self._fail(msg)
        state.values += size - 1
        if state.values > state.budget:
            msg = f"references expand the AMF data beyond {state.budget} values"
            raise self._fail(msg)
        return target

    def _measure(self, value: Any) -> tuple[int, int]:
        # Height (1 for a container of scalars) and size (values, references expanded) of a
        # finished value. Memoized by identity, so shared sub-trees are walked once.
        if isinstance(value, dict):
            children: Any = value.values()
        elif isinstance(value, list):
            children = value
        else:
            return 0, 1
        memo = self._state.measured
        known = memo.get(id(value))
        if known is not None:
            return known
        height = 0
        size = 1
        for child in children:
            child_height, child_size = self._measure(child)
            height = max(height, child_height)
            size += child_size
        result = (height + 1, size)
        memo[id(value)] = result
        return result


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
        ProtocolError: On any malformed input, or nesting deeper than ``limits.max_amf_depth``.
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


# --- Encoding ---------------------------------------------------------------------------------


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
    raise ValueError(msg)


def _double(value: float) -> bytes:
    try:
        return _DOUBLE.pack(float(value))
    except OverflowError:
        msg = f"number {value} is too large for an AMF double"
        raise ValueError(msg) from None


def _key(key: object) -> str:
    if isinstance(key, str):
        return key
    if isinstance(key, int) and not isinstance(key, bool):
        return str(key)
    msg = f"AMF object keys must be str (or int), not {type(key).__name__}"
    raise TypeError(msg)


class _Encoder:
    """Shared container bookkeeping: cycles are refused because no references are written."""

    __slots__ = ("out", "path")

    def __init__(self, out: bytearray) -> None:
        self.out = out
        self.path: set[int] = set()

    def _open(self, container: object) -> None:
        if id(container) in self.path:
            msg = "cannot encode a value that contains itself"
            raise ValueError(msg)
        self.path.add(id(container))

    def _close(self, container: object) -> None:
        self.path.discard(id(container))


class _Amf0Encoder(_Encoder):
    __slots__ = ()

    def _utf8(self, text: str) -> None:
        raw = text.encode("utf-8")
        if len(raw) > 0xFFFF:
            msg = f"AMF0 key or class name of {len(raw)} bytes exceeds 65535"
            raise ValueError(msg)
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
            raise TypeError(msg)


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
                raise ValueError(msg)
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
            raise TypeError(msg)


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
        TypeError: A value (or a key) has a type AMF cannot carry.
        ValueError: A value contains itself, or is too large for its AMF field.
    """
    out = bytearray()
    if amf3:
        for value in values:
            out += b"\x11"
            _Amf3Encoder(out).write(value)
    else:
        encoder = _Amf0Encoder(out)
        for value in values:
            encoder.write(value)
    return bytes(out)
