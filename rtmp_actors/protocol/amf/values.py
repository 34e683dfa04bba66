"""The Python values AMF decodes to and encodes from, and the number and date conversions.

Decoded values: ``None``, ``bool``, ``int`` (integral numbers), ``float``, ``str``, ``bytes``
(AMF3 ByteArray), ``list`` (strict arrays, AMF3 dense arrays and vectors), ``dict`` (anonymous
objects, AMF3 dictionaries), :class:`EcmaArray`, :class:`TypedObject`, ``datetime`` (aware, UTC)
and :data:`UNDEFINED`.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from rtmp_actors.errors import RemoteProtocolError

__all__ = ["UNDEFINED", "AmfValue", "EcmaArray", "TypedObject"]

AmfValue = Any
"""A decoded AMF value: None, bool, int, float, str, bytes, list, dict, EcmaArray, TypedObject,
datetime or UNDEFINED."""


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


_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_MAX_EXACT_INT: Final = 2**53


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
