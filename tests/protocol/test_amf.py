"""AMF0/AMF3: golden bytes, round-trips, and hardening against hostile input."""

from __future__ import annotations

import math
import struct
import zlib
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from rtmp_actors.errors import LocalProtocolError, RemoteProtocolError
from rtmp_actors.limits import Limits
from rtmp_actors.protocol.amf import (
    UNDEFINED,
    EcmaArray,
    TypedObject,
    decode_values,
    encode_values,
)


def h(text: str) -> bytes:
    """Hex with spaces for readability."""
    return bytes.fromhex(text)


def double(value: float) -> str:
    return struct.pack(">d", value).hex()


def same(a: Any, b: Any) -> bool:
    """Equality that also checks AMF types: dict vs EcmaArray vs TypedObject, bool vs int."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    if type(a) is not type(b):
        return False
    if isinstance(a, TypedObject) and a.class_name != b.class_name:
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[key], b[key]) for key in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


ALLOWED_TYPES = (
    type(None),
    bool,
    int,
    float,
    str,
    bytes,
    list,
    dict,
    EcmaArray,
    TypedObject,
    datetime,
    type(UNDEFINED),
)


def assert_plain(value: Any, depth: int = 0) -> None:
    """Every decoded node is one of the documented Python types (no pyamf type leaks)."""
    assert depth < 100
    assert type(value) in ALLOWED_TYPES, type(value)
    if isinstance(value, dict):
        for key, item in value.items():
            assert type(key) in ALLOWED_TYPES
            assert_plain(item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            assert_plain(item, depth + 1)


def depth_of(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max((depth_of(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((depth_of(v) for v in value), default=0)
    return 0


# --- Golden bytes: AMF0 -----------------------------------------------------------------------

AMF0_GOLDEN = [
    pytest.param(1.5, "00 3ff8000000000000", id="number"),
    pytest.param(1, "00 3ff0000000000000", id="int-as-double"),
    pytest.param(-0.5, "00 bfe0000000000000", id="negative"),
    pytest.param(True, "01 01", id="true"),
    pytest.param(False, "01 00", id="false"),
    pytest.param("abc", "02 0003 616263", id="string"),
    pytest.param("", "02 0000", id="empty-string"),
    pytest.param("é", "02 0002 c3a9", id="utf8-bytes-counted"),
    pytest.param({"a": 1}, "03 0001 61 00 3ff0000000000000 000009", id="object"),
    pytest.param({}, "03 000009", id="empty-object"),
    pytest.param(None, "05", id="null"),
    pytest.param(UNDEFINED, "06", id="undefined"),
    pytest.param(
        EcmaArray({"a": 1}), "08 00000001 0001 61 00 3ff0000000000000 000009", id="ecma-array"
    ),
    pytest.param(EcmaArray(), "08 00000000 000009", id="empty-ecma-array"),
    pytest.param([1, "a"], "0a 00000002 00 3ff0000000000000 02 0001 61", id="strict-array"),
    pytest.param([], "0a 00000000", id="empty-strict-array"),
    pytest.param(datetime(2020, 1, 1, tzinfo=UTC), f"0b {double(1577836800000.0)} 0000", id="date"),
    pytest.param(
        TypedObject("org.Foo", {"x": 1}),
        "10 0007 6f72672e466f6f 0001 78 00 3ff0000000000000 000009",
        id="typed-object",
    ),
    pytest.param(b"\x01\x02", "11 0c 05 0102", id="bytes-switch-to-amf3"),
]


@pytest.mark.parametrize(("value", "wire"), AMF0_GOLDEN)
def test_amf0_golden_encode_and_decode(value: Any, wire: str) -> None:
    assert encode_values([value]).hex() == h(wire).hex()
    (decoded,) = decode_values(h(wire))
    assert same(decoded, value)


def test_integral_numbers_decode_as_int_and_fractions_as_float() -> None:
    one, half, big = decode_values(h(f"00 {double(1.0)} 00 {double(0.5)} 00 {double(2.0**60)}"))
    assert type(one) is int
    assert one == 1
    assert type(half) is float
    assert type(big) is float  # beyond 2^53 an integral double is not an exact int
    assert big == 2.0**60


def test_special_doubles_decode() -> None:
    inf, nan = decode_values(h(f"00 {double(math.inf)} 00 {double(math.nan)}"))
    assert inf == math.inf
    assert math.isnan(nan)


def test_boolean_nonzero_byte_is_true() -> None:
    assert decode_values(h("01 02")) == [True]


def test_long_string_switch_at_65536_utf8_bytes() -> None:
    at_limit = "x" * 0xFFFF
    assert encode_values([at_limit])[:3] == h("02 ffff")
    longer = "x" * 0x10000
    wire = encode_values([longer])
    assert wire[:5] == h("0c 00010000")
    assert decode_values(wire) == [longer]
    # 40,000 characters but 80,000 UTF-8 bytes: the byte count decides.
    accented = "é" * 40_000
    wire = encode_values([accented])
    assert wire[:5] == h("0c 00013880")
    assert decode_values(wire) == [accented]


def test_long_string_decodes_even_when_short() -> None:
    assert decode_values(h("0c 00000003 616263")) == ["abc"]


def test_reference_returns_the_same_object() -> None:
    first, second = decode_values(h("03 0001 61 05 000009 07 0000"))
    assert first == {"a": None}
    assert second is first


def test_reference_counts_strict_and_ecma_arrays_and_typed_objects() -> None:
    wire = h("0a 00000000  08 00000000 000009  10 0001 54 000009  07 0002 07 0001 07 0000")
    values = decode_values(wire)
    assert values[3] is values[2]
    assert type(values[3]) is TypedObject
    assert values[4] is values[1]
    assert values[5] is values[0]


def test_dates_are_not_referenceable() -> None:
    # The AMF0 spec puts only objects and arrays in the reference table (pyamf adds dates).
    wire = h(f"0b {double(0.0)} 0000 03 000009 07 0000")
    date, obj, ref = decode_values(wire)
    assert date == datetime(1970, 1, 1, tzinfo=UTC)
    assert ref is obj


def test_date_time_zone_field_is_ignored() -> None:
    (date,) = decode_values(h(f"0b {double(1577836800000.0)} 003c"))
    assert date == datetime(2020, 1, 1, tzinfo=UTC)
    assert date.tzinfo is not None


def test_naive_and_other_zone_dates_encode_as_the_same_instant() -> None:
    aware = datetime(2020, 1, 1, 1, 0, tzinfo=timezone(timedelta(hours=1)))
    naive = datetime(2020, 1, 1)  # taken as UTC
    expected = h(f"0b {double(1577836800000.0)} 0000")
    assert encode_values([aware]) == expected
    assert encode_values([naive]) == expected


def test_unsupported_marker_decodes_as_none() -> None:
    assert decode_values(h("0d 05")) == [None, None]


def test_xml_document_is_returned_as_text_without_parsing() -> None:
    xml = '<!DOCTYPE a [<!ENTITY e SYSTEM "file:///etc/passwd">]><a>&e;</a>'
    raw = xml.encode()
    wire = b"\x0f" + struct.pack(">I", len(raw)) + raw
    assert decode_values(wire) == [xml]


def test_ecma_array_count_is_ignored_and_keys_stay_strings() -> None:
    (array,) = decode_values(h("08 00000063 0001 30 05 0001 61 01 01 000009"))
    assert type(array) is EcmaArray
    assert array == {"0": None, "a": True}


def test_empty_key_that_is_not_the_end_marker_is_a_member() -> None:
    (obj,) = decode_values(h("03 0000 05 000009"))
    assert obj == {"": None}
    assert encode_values([{"": None}]) == h("03 0000 05 000009")


def test_duplicate_keys_keep_the_last_value() -> None:
    assert decode_values(h("03 0001 61 05 0001 61 01 01 000009")) == [{"a": True}]


@pytest.mark.parametrize(
    "class_name",
    [
        "RecordSet",
        "flex.messaging.io.ArrayCollection",
        "flex.messaging.messages.RemotingMessage",
        "flash.utils.ByteArray",
        "os.system",
    ],
)
def test_typed_objects_never_become_registered_python_classes(class_name: str) -> None:
    name = class_name.encode()
    wire = b"\x10" + struct.pack(">H", len(name)) + name + h("0001 61 05 000009")
    (obj,) = decode_values(wire)
    assert type(obj) is TypedObject
    assert obj.class_name == class_name
    assert obj == {"a": None}


def test_typed_object_equality_includes_the_class_name() -> None:
    assert TypedObject("A", x=1) == TypedObject("A", x=1)
    assert TypedObject("A", x=1) != TypedObject("B", x=1)
    assert TypedObject("A", x=1) == {"x": 1}
    assert repr(TypedObject("A", x=1)) == "TypedObject('A', {'x': 1})"
    assert repr(EcmaArray(x=1)) == "EcmaArray({'x': 1})"


def test_several_values_back_to_back() -> None:
    wire = encode_values(["connect", 1, None, {"a": UNDEFINED}])
    assert wire == h("02 0007 636f6e6e656374 00 3ff0000000000000 05 03 0001 61 06 000009")
    assert decode_values(wire) == ["connect", 1, None, {"a": UNDEFINED}]


def test_empty_payload_has_no_values() -> None:
    assert decode_values(b"") == []
    assert encode_values([]) == b""


def test_decode_accepts_bytearray_and_memoryview() -> None:
    assert decode_values(bytearray(h("05"))) == [None]
    assert decode_values(memoryview(h("0101"))) == [True]


# --- Golden bytes: AMF3 (behind the AMF0 switch marker) ---------------------------------------

AMF3_GOLDEN = [
    pytest.param(UNDEFINED, "11 00", id="undefined"),
    pytest.param(None, "11 01", id="null"),
    pytest.param(False, "11 02", id="false"),
    pytest.param(True, "11 03", id="true"),
    pytest.param(1, "11 04 01", id="int-1-byte"),
    pytest.param(300, "11 04 822c", id="int-2-bytes"),
    pytest.param(0x4000, "11 04 818000", id="int-3-bytes"),
    pytest.param(0x200000, "11 04 80c08000", id="int-4-bytes"),
    pytest.param(2**28 - 1, "11 04 bfffffff", id="int-max"),
    pytest.param(-1, "11 04 ffffffff", id="int-minus-1"),
    pytest.param(-(2**28), "11 04 c0808000", id="int-min"),
    pytest.param(2**28, f"11 05 {double(2.0**28)}", id="int-too-big-is-double"),
    pytest.param(1.5, f"11 05 {double(1.5)}", id="double"),
    pytest.param("a", "11 06 03 61", id="string"),
    pytest.param("", "11 06 01", id="empty-string"),
    pytest.param([1], "11 09 03 01 04 01", id="dense-array"),
    pytest.param(EcmaArray({"a": 1}), "11 09 01 03 61 04 01 01", id="ecma-array"),
    pytest.param({"a": 1}, "11 0a 0b 01 03 61 04 01 01", id="anonymous-object"),
    pytest.param({}, "11 0a 0b 01 01", id="empty-object"),
    pytest.param(TypedObject("Foo", {"x": 1}), "11 0a 0b 07 466f6f 03 78 04 01 01", id="typed"),
    pytest.param(b"\x01\x02", "11 0c 05 0102", id="byte-array"),
    pytest.param(datetime(1970, 1, 1, tzinfo=UTC), f"11 08 01 {double(0.0)}", id="date"),
]


@pytest.mark.parametrize(("value", "wire"), AMF3_GOLDEN)
def test_amf3_golden_encode_and_decode(value: Any, wire: str) -> None:
    assert encode_values([value], amf3=True).hex() == h(wire).hex()
    (decoded,) = decode_values(h(wire))
    assert same(decoded, value)


def test_amf3_switch_marker_is_repeated_for_every_value() -> None:
    assert encode_values([1, "a", None], amf3=True) == h("11 04 01 11 06 03 61 11 01")
    assert decode_values(h("11 04 01 11 06 03 61 11 01")) == [1, "a", None]


def test_amf0_and_amf3_values_mix_in_one_payload() -> None:
    assert decode_values(h("02 0001 61 11 04 05 05")) == ["a", 5, None]


def test_amf3_integral_double_decodes_as_int() -> None:
    (value,) = decode_values(h(f"11 05 {double(3.0)}"))
    assert type(value) is int


def test_amf3_string_references() -> None:
    assert decode_values(h("11 09 05 01 06 03 61 06 00")) == [["a", "a"]]


def test_amf3_empty_string_is_not_a_reference_target() -> None:
    # "" is never added to the string table, so reference 0 is "b".
    assert decode_values(h("11 09 07 01 06 01 06 03 62 06 00")) == [["", "b", "b"]]


def test_amf3_sealed_members_and_traits_reference() -> None:
    wire = h("11 09 05 01  0a 13 07 466f6f 03 78 04 01  0a 01 04 02")
    ((first, second),) = decode_values(wire)
    assert type(first) is TypedObject
    assert first.class_name == "Foo"
    assert first == {"x": 1}
    assert second == TypedObject("Foo", {"x": 2})


def test_amf3_sealed_and_dynamic_members_together() -> None:
    # Traits 0x1b: inline, dynamic, one sealed member "x"; then dynamic "y".
    (obj,) = decode_values(h("11 0a 1b 01 03 78 04 01 03 79 04 02 01"))
    assert type(obj) is dict
    assert obj == {"x": 1, "y": 2}


def test_amf3_mixed_array_becomes_an_ecma_array_with_string_indexes() -> None:
    (array,) = decode_values(h("11 09 03 03 61 04 01 01 04 02"))
    assert type(array) is EcmaArray
    assert list(array.items()) == [("a", 1), ("0", 2)]


def test_amf3_object_reference() -> None:
    ((first, second),) = decode_values(h("11 09 05 01 0a 0b 01 01 0a 02"))
    assert second is first


def test_amf3_xml_and_xml_document_are_text() -> None:
    assert decode_values(h("11 0b 09 3c612f3e 11 07 09 3c622f3e")) == ["<a/>", "<b/>"]


def test_amf3_date_reference() -> None:
    ((first, second),) = decode_values(h(f"11 09 05 01 08 01 {double(0.0)} 08 02"))
    assert second is first


def test_amf3_dictionary() -> None:
    (dictionary,) = decode_values(h("11 11 05 00 06 03 61 04 01 04 02 06 03 62"))
    assert dictionary == {"a": 1, 2: "b"}


def test_amf3_dictionary_with_an_object_key_is_refused() -> None:
    with pytest.raises(RemoteProtocolError, match="dictionary key"):
        decode_values(h("11 11 03 00 0a 0b 01 01 04 01"))


def test_amf3_vectors() -> None:
    wire = h(
        "11 0d 05 00 ffffffff 00000002"
        " 11 0e 03 00 ffffffff"
        f" 11 0f 05 00 {double(1.5)} {double(2.0)}"
        " 11 10 05 00 01 06 03 61 01"
    )
    assert decode_values(wire) == [[-1, 2], [0xFFFFFFFF], [1.5, 2], ["a", None]]


def test_amf3_array_collection_is_unwrapped_into_a_typed_object() -> None:
    name = b"flex.messaging.io.ArrayCollection"
    wire = h("11 0a 07 43") + name + h("09 03 01 04 01")
    (collection,) = decode_values(wire)
    assert type(collection) is TypedObject
    assert collection.class_name == name.decode()
    assert collection == {"source": [1]}


def test_amf3_unknown_externalizable_is_refused() -> None:
    with pytest.raises(RemoteProtocolError, match="externalizable"):
        decode_values(h("11 0a 07 07 466f6f 00"))


@pytest.mark.parametrize(
    "class_name", ["RecordSet", "flex.messaging.messages.RemotingMessage", "flash.utils.ByteArray"]
)
def test_amf3_class_aliases_never_become_registered_python_classes(class_name: str) -> None:
    name = class_name.encode()
    wire = h("11 0a 0b") + bytes([len(name) << 1 | 1]) + name + h("03 61 04 01 01")
    (obj,) = decode_values(wire)
    assert type(obj) is TypedObject
    assert obj == TypedObject(class_name, {"a": 1})


def test_amf3_byte_array_with_zlib_header_is_not_decompressed() -> None:
    compressed = zlib.compress(b"\x00" * 100_000)
    assert compressed[:2] == h("789c")
    size = len(compressed) << 1 | 1
    header = bytes([size >> 7 | 0x80, size & 0x7F])
    (value,) = decode_values(h("11 0c") + header + compressed)
    assert value == compressed


def test_bytes_round_trip_in_amf0_and_amf3() -> None:
    data = bytes(range(256))
    assert decode_values(encode_values([data])) == [data]
    assert decode_values(encode_values([data], amf3=True)) == [data]


# --- Encoding refusals --------------------------------------------------------------------------


@pytest.mark.parametrize("amf3", [False, True])
def test_unsupported_type_raises_local_protocol_error(amf3: bool) -> None:
    with pytest.raises(LocalProtocolError, match="set"):
        encode_values([{1, 2}], amf3=amf3)


@pytest.mark.parametrize("amf3", [False, True])
def test_non_string_key_raises_local_protocol_error(amf3: bool) -> None:
    with pytest.raises(LocalProtocolError, match="keys"):
        encode_values([{1.5: None}], amf3=amf3)


def test_int_keys_are_written_as_strings() -> None:
    assert encode_values([EcmaArray({1: None})]) == h("08 00000001 0001 31 05 000009")  # type: ignore[dict-item]


@pytest.mark.parametrize("amf3", [False, True])
def test_cyclic_value_raises_local_protocol_error(amf3: bool) -> None:
    cyclic: dict[str, Any] = {}
    cyclic["self"] = cyclic
    with pytest.raises(LocalProtocolError, match="contains itself"):
        encode_values([cyclic], amf3=amf3)


@pytest.mark.parametrize("amf3", [False, True])
def test_shared_but_acyclic_values_are_written_twice(amf3: bool) -> None:
    shared = {"a": 1}
    assert decode_values(encode_values([[shared, shared]], amf3=amf3)) == [[shared, shared]]


def test_amf3_empty_member_name_raises_local_protocol_error() -> None:
    with pytest.raises(LocalProtocolError, match="empty member name"):
        encode_values([{"": 1}], amf3=True)


def test_amf0_key_longer_than_65535_bytes_raises_local_protocol_error() -> None:
    with pytest.raises(LocalProtocolError, match="65535"):
        encode_values([{"k" * 0x10000: 1}])


@pytest.mark.parametrize("amf3", [False, True])
def test_number_too_large_for_a_double_raises_local_protocol_error(amf3: bool) -> None:
    with pytest.raises(LocalProtocolError, match="too large"):
        encode_values([10**400], amf3=amf3)


def test_enum_members_encode_as_their_values() -> None:
    from enum import IntFlag, StrEnum

    class Color(StrEnum):
        RED = "red"

    class Bits(IntFlag):
        ONE = 1

    assert encode_values([Color.RED, Bits.ONE]) == encode_values(["red", 1])
    assert encode_values([Bits.ONE], amf3=True) == h("11 04 01")


# --- Hardening ------------------------------------------------------------------------------------


def nested_objects(depth: int) -> bytes:
    return h("03 0001 61") * depth + h("05") + h("000009") * depth


def nested_strict_arrays(depth: int) -> bytes:
    return h("0a 00000001") * depth + h("05")


def nested_ecma_arrays(depth: int) -> bytes:
    return h("08 00000001 0001 61") * depth + h("05") + h("000009") * depth


def nested_amf3_arrays(depth: int) -> bytes:
    return h("11") + h("09 03 01") * depth + h("01")


def nested_amf3_objects(depth: int) -> bytes:
    return h("11") + h("0a 0b 01 03 61") * depth + h("01") + h("01") * depth


NESTERS = [nested_objects, nested_strict_arrays, nested_ecma_arrays, nested_amf3_arrays]
NESTERS.append(nested_amf3_objects)


@pytest.mark.parametrize("nest", NESTERS)
def test_nesting_up_to_the_limit_decodes(nest: Any) -> None:
    (value,) = decode_values(nest(32))
    assert depth_of(value) == 32


@pytest.mark.parametrize("depth", [33, 10_000])
@pytest.mark.parametrize("nest", NESTERS)
def test_nesting_beyond_the_limit_raises(nest: Any, depth: int) -> None:
    with pytest.raises(RemoteProtocolError, match="depth"):
        decode_values(nest(depth))


def test_nesting_limit_is_configurable() -> None:
    limits = Limits(max_amf_depth=2)
    assert depth_of(decode_values(nested_objects(2), limits)[0]) == 2
    with pytest.raises(RemoteProtocolError, match="max_amf_depth=2"):
        decode_values(nested_objects(3), limits)


def test_depth_counts_across_the_amf3_switch() -> None:
    # 31 AMF0 objects, then an AMF3 array inside: 32 levels in all, which is fine ...
    ok = h("03 0001 61") * 31 + h("11 09 03 01 01") + h("000009") * 31
    (value,) = decode_values(ok)
    assert depth_of(value) == 32
    # ... and one more AMF0 level makes 33.
    too_deep = h("03 0001 61") * 32 + h("11 09 03 01 01") + h("000009") * 32
    with pytest.raises(RemoteProtocolError, match="depth"):
        decode_values(too_deep)


def test_a_reference_cannot_deepen_the_tree_beyond_the_limit() -> None:
    # Value 0 is 32 levels deep; value 1 is an array holding a reference to it: 33 levels.
    wire = nested_strict_arrays(32) + h("0a 00000001 07 0000")
    with pytest.raises(RemoteProtocolError, match="max_amf_depth"):
        decode_values(wire)
    # One level less is fine, and the reference is the same object.
    first, second = decode_values(nested_strict_arrays(31) + h("0a 00000001 07 0000"))
    assert second[0] is first


@pytest.mark.parametrize(
    "wire",
    [
        pytest.param("03 0001 61 07 0000 000009", id="amf0-object-contains-itself"),
        pytest.param("0a 00000001 0a 00000001 07 0000", id="amf0-array-contains-its-parent"),
        pytest.param("11 09 03 01 09 00", id="amf3-array-contains-itself"),
        pytest.param("11 0a 0b 01 03 61 0a 00 01", id="amf3-object-contains-itself"),
    ],
)
def test_cycles_are_refused(wire: str) -> None:
    with pytest.raises(RemoteProtocolError, match="enclosing"):
        decode_values(h(wire))


def test_references_cannot_expand_the_data_exponentially() -> None:
    # Array k holds two references to array k-1: 2^30 leaves from a few hundred bytes.
    wire = bytearray(h("0a 00000002 05 05"))
    for index in range(1, 31):
        ref = struct.pack(">H", index - 1).hex()
        wire += h(f"0a 00000002 07 {ref} 07 {ref}")
    with pytest.raises(RemoteProtocolError, match="expand"):
        decode_values(bytes(wire))


def test_modest_reference_use_is_accepted() -> None:
    values = decode_values(h("0a 00000002 05 05 0a 00000002 07 0000 07 0000"))
    assert values[1] == [[None, None], [None, None]]


@pytest.mark.parametrize(
    "wire",
    [
        pytest.param("07 0000", id="amf0-reference-to-nothing"),
        pytest.param("03 000009 07 0001", id="amf0-reference-past-the-table"),
        pytest.param("11 06 00", id="amf3-string-reference-to-nothing"),
        pytest.param("11 09 02", id="amf3-object-reference-to-nothing"),
        pytest.param("11 0a 01", id="amf3-traits-reference-to-nothing"),
        pytest.param("11 0c 00", id="amf3-byte-array-reference-to-nothing"),
    ],
)
def test_dangling_references_are_refused(wire: str) -> None:
    with pytest.raises(RemoteProtocolError, match="reference"):
        decode_values(h(wire))


def test_strict_array_claiming_2_32_minus_1_elements_is_refused_at_once() -> None:
    with pytest.raises(RemoteProtocolError, match="4294967295"):
        decode_values(h("0a ffffffff 05 05 05"))


@pytest.mark.parametrize(
    ("wire", "claim"),
    [
        pytest.param("11 09 bfffffff 01 01", "134217727", id="amf3-dense-array"),
        pytest.param("11 10 bfffffff 00 01", "134217727", id="amf3-object-vector"),
        pytest.param("11 0d bfffffff 00", "536870908 bytes", id="amf3-int-vector"),
        pytest.param("11 11 bfffffff 00", "134217727", id="amf3-dictionary"),
        pytest.param("11 0c bfffffff", "134217727", id="amf3-byte-array"),
        pytest.param("11 06 bfffffff", "134217727", id="amf3-string"),
        pytest.param("11 0a bffffff3 01", "16777215", id="amf3-sealed-members"),
    ],
)
def test_amf3_claimed_lengths_beyond_the_payload_are_refused(wire: str, claim: str) -> None:
    with pytest.raises(RemoteProtocolError, match=claim):
        decode_values(h(wire))


def test_string_claiming_65535_bytes_with_3_present_is_refused() -> None:
    with pytest.raises(RemoteProtocolError, match="65535 bytes but only 3"):
        decode_values(h("02 ffff 616263"))


def test_long_string_claiming_4_gib_is_refused() -> None:
    with pytest.raises(RemoteProtocolError, match="4294967295 bytes"):
        decode_values(h("0c ffffffff 61"))


@pytest.mark.parametrize(
    "wire",
    [
        pytest.param("02 0002 c328", id="amf0-string"),
        pytest.param("03 0001 ff 05 000009", id="amf0-key"),
        pytest.param("0c 00000001 80", id="amf0-long-string"),
        pytest.param("10 0001 fe 000009", id="amf0-class-name"),
        pytest.param("11 06 05 eda080", id="amf3-encoded-surrogate"),
    ],
)
def test_invalid_utf8_is_refused(wire: str) -> None:
    with pytest.raises(RemoteProtocolError, match="UTF-8"):
        decode_values(h(wire))


@pytest.mark.parametrize("marker", ["04", "09", "0e", "12", "7f", "ff"])
def test_unknown_amf0_markers_are_refused(marker: str) -> None:
    with pytest.raises(RemoteProtocolError, match=f"AMF0 type marker 0x{marker}"):
        decode_values(h(marker))


@pytest.mark.parametrize("marker", ["12", "80", "ff"])
def test_unknown_amf3_markers_are_refused(marker: str) -> None:
    with pytest.raises(RemoteProtocolError, match=f"AMF3 type marker 0x{marker}"):
        decode_values(h("11" + marker))


@pytest.mark.parametrize(
    "wire",
    [
        pytest.param(f"0b {double(math.nan)} 0000", id="nan"),
        pytest.param(f"0b {double(1e300)} 0000", id="far-future"),
        pytest.param(f"11 08 01 {double(-1e300)}", id="amf3-far-past"),
    ],
)
def test_unrepresentable_dates_are_refused(wire: str) -> None:
    with pytest.raises(RemoteProtocolError, match="date"):
        decode_values(h(wire))


def test_object_without_its_end_marker_is_truncated() -> None:
    with pytest.raises(RemoteProtocolError, match="truncated"):
        decode_values(h("03 0001 61 05"))


def test_every_prefix_of_a_rich_payload_decodes_or_raises_protocol_error() -> None:
    rich = [
        "connect",
        1.5,
        {"a": [1, "two", None], "b": EcmaArray({"c": True})},
        TypedObject("T", {"d": datetime(2001, 2, 3, tzinfo=UTC)}),
        UNDEFINED,
        b"bytes",
    ]
    for wire in (encode_values(rich), encode_values(rich, amf3=True)):
        assert same(decode_values(wire), rich)
        for end in range(len(wire)):
            try:
                partial = decode_values(wire[:end])
            except RemoteProtocolError:
                continue
            # A cut payload decodes only when cut between values, into the values before it.
            assert len(partial) < len(rich)
            assert same(partial, rich[: len(partial)])


def test_error_messages_say_where() -> None:
    with pytest.raises(RemoteProtocolError, match=r"at byte \d+"):
        decode_values(h("03 0001 61 04"))


def test_all_markers_decode_to_plain_python_types() -> None:
    wire = (
        h(f"00 {double(1.0)} 01 01 02 0001 61 03 0001 61 05 000009 05 06")
        + h("08 00000000 000009 0a 00000001 07 0001 0b")
        + h(f"{double(0.0)} 0000 0c 00000000 0d 0f 00000000 10 0001 54 000009")
        + h("11 00 11 01 11 02 11 03 11 04 01 11 06 01 11 07 01 11 08 01")
        + h(f"{double(0.0)} 11 09 01 01 11 0a 0b 01 01 11 0b 01 11 0c 01 11 0d 01 00")
        + h("11 0e 01 00 11 0f 01 00 11 10 01 00 01 11 11 01 00")
    )
    values = decode_values(wire)
    assert len(values) == 30
    for value in values:
        assert_plain(value)


# --- Property tests -------------------------------------------------------------------------

SCALARS = (
    st.none()
    | st.just(UNDEFINED)
    | st.booleans()
    | st.integers(min_value=-(2**53), max_value=2**53)
    | st.floats(allow_nan=False)
    | st.text(max_size=20)
    | st.binary(max_size=20)
    | st.datetimes(timezones=st.just(UTC)).map(
        lambda d: d.replace(microsecond=d.microsecond // 1000 * 1000)
    )
)


def amf_trees(*, amf3: bool = False) -> st.SearchStrategy[Any]:
    """Random AMF value trees; for AMF3 without what AMF3 cannot express.

    AMF3 has no empty member names (the empty string ends a member list), no distinct empty
    ECMA array (it is an empty array) and no anonymous typed object (the empty class name).
    """
    keys = st.text(min_size=1 if amf3 else 0, max_size=8)
    min_ecma = 1 if amf3 else 0
    class_names = st.text(min_size=1 if amf3 else 0, max_size=8)

    def extend(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
        return (
            st.lists(children, max_size=4)
            | st.dictionaries(keys, children, max_size=4)
            | st.dictionaries(keys, children, min_size=min_ecma, max_size=4).map(EcmaArray)
            | st.builds(TypedObject, class_names, st.dictionaries(keys, children, max_size=4))
        )

    return st.recursive(SCALARS, extend, max_leaves=25).filter(lambda v: depth_of(v) <= 32)


@given(st.lists(amf_trees(), max_size=4))
def test_amf0_round_trip(values: list[Any]) -> None:
    decoded = decode_values(encode_values(values))
    assert same(decoded, values)


@given(st.lists(amf_trees(amf3=True), max_size=4))
def test_amf3_round_trip(values: list[Any]) -> None:
    decoded = decode_values(encode_values(values, amf3=True))
    assert same(decoded, values)


@given(st.lists(amf_trees(), max_size=4))
def test_amf0_encoding_is_deterministic(values: list[Any]) -> None:
    assert encode_values(values) == encode_values(values)


def check_decode(data: bytes) -> None:
    try:
        values = decode_values(data)
    except RemoteProtocolError:
        return
    for value in values:
        assert_plain(value)


@settings(max_examples=1000)
@given(st.binary(max_size=300))
def test_fuzz_arbitrary_bytes(data: bytes) -> None:
    check_decode(data)


@settings(max_examples=1000)
@given(st.binary(max_size=300))
def test_fuzz_arbitrary_amf3_bytes(data: bytes) -> None:
    check_decode(b"\x11" + data)


@settings(max_examples=1000)
@given(st.lists(st.integers(min_value=0, max_value=0x12), max_size=200))
def test_fuzz_marker_heavy_bytes(markers: list[int]) -> None:
    # Mostly valid type markers, so decoding gets deep before failing.
    check_decode(bytes(markers))
    check_decode(b"\x11" + bytes(markers))


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.booleans().flatmap(
        lambda amf3: st.tuples(
            st.just(amf3), st.lists(amf_trees(amf3=amf3), min_size=1, max_size=3)
        )
    ),
    st.lists(st.tuples(st.integers(min_value=0), st.integers(min_value=0, max_value=255))),
    st.integers(min_value=0),
)
def test_fuzz_mutated_valid_encodings(
    sample: tuple[bool, list[Any]], flips: list[tuple[int, int]], cut: int
) -> None:
    amf3, values = sample
    wire = bytearray(encode_values(values, amf3=amf3))
    assume(wire)
    for position, byte in flips:
        wire[position % len(wire)] = byte
    check_decode(bytes(wire[: cut % (len(wire) + 1)]))
