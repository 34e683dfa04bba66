"""The checks that bound what a peer's AMF can cost, shared by the AMF0 and AMF3 decoders.

* Nesting of objects and arrays (AMF0 and AMF3 alike, counted across the AMF0-to-AMF3 switch) is
  bounded by ``Limits.max_amf_depth``. References cannot get around the bound: a reference to an
  enclosing object (a cycle) is rejected, a reference to a finished object counts that object's
  own depth, and references may not make the decoded tree more than :data:`EXPANSION_FACTOR`
  values per payload byte (no "billion laughs" through shared sub-trees).
* A claimed length (string, array count, ByteArray size) is checked against the bytes that are
  left before anything is read, so nothing is allocated beyond the payload.

Every check raises :class:`~rtmp_actors.errors.RemoteProtocolError` with the byte offset.
"""

from __future__ import annotations

from typing import Any, Final

from rtmp_actors.errors import RemoteProtocolError

__all__ = ["EXPANSION_FACTOR"]

EXPANSION_FACTOR: Final = 4
"""Most decoded values per payload byte once references are followed.

Without references every value costs at least one byte, so only references can exceed this.
"""


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

    def _fail(self, message: str) -> RemoteProtocolError:
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
