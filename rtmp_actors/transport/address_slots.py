"""Connections per client address, bounded: one address cannot take every connection.

Theory of operation:

* The listener asks :meth:`AddressSlots.acquire` on the I/O thread for every accepted socket,
  before any actor exists or a handshake byte is read; a refusal closes the socket at once.
  The check is a dict lookup under a lock held for nothing else, so a flood costs the loop
  almost nothing.
* Each accepted connection holds a :class:`Slot` until it closes. Releasing is idempotent,
  and a slot that is dropped unreleased (its message lost with a stopped actor) gives its
  place back when it is garbage collected, so a count never leaks.
* Refusals are logged at most once per :data:`LOG_INTERVAL` per address (with how many were
  refused meanwhile): a flood does not flood the log.
"""

from __future__ import annotations

import ipaddress
import logging
import threading
import time
from collections import deque
from collections.abc import Callable

__all__ = ["LOG_INTERVAL", "AddressSlots", "Slot", "canonical_address"]

logger = logging.getLogger(__name__)

LOG_INTERVAL = 10.0
"""Seconds between two log lines about refusals from one address."""
_MAX_LOG_ENTRIES = 4096  # addresses remembered for rate-limiting the log


def canonical_address(host: str) -> str:
    """The address as rules and limits see it: IPv4-mapped IPv6 becomes IPv4, zones go.

    A dual-stack listener reports ``::ffff:192.0.2.1`` for an IPv4 client; it is the same
    client as ``192.0.2.1``. Anything that is not an IP address is returned as it is.
    """
    try:
        address = ipaddress.ip_address(host.partition("%")[0])
    except ValueError:
        return host
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return str(address)


class Slot:
    """One connection's place in its address's count; :meth:`release` it when it closes."""

    __slots__ = ("_slots", "address")

    def __init__(self, slots: AddressSlots, address: str) -> None:
        self._slots: AddressSlots | None = slots
        self.address = address

    def release(self) -> None:
        """Give the place back (idempotent; safe from any thread)."""
        slots, self._slots = self._slots, None
        if slots is not None:
            slots.give_back(self.address)

    def __del__(self) -> None:
        # Only queue it: the collector may run while this thread holds the slots' lock.
        slots, self._slots = self._slots, None
        if slots is not None:
            slots.returned.append(self.address)


class AddressSlots:
    """Counts open connections per client address, up to ``limit`` each (0: no limit).

    Shared by every listener of a server (plain and TLS), so the limit is per address, not
    per port.

    Args:
        limit: Most connections one address may have open at once; 0 for no limit.
        clock: Monotonic seconds (for tests of the log's rate limit).
    """

    def __init__(self, limit: int = 0, clock: Callable[[], float] = time.monotonic) -> None:
        if limit < 0:
            msg = "the connection limit per address must be 0 (none) or more"
            raise ValueError(msg)
        self.limit = limit
        self._clock = clock
        self._lock = threading.Lock()
        self._open: dict[str, int] = {}
        self.returned: deque[str] = deque()  # released by the garbage collector
        self._last_logged: dict[str, tuple[float, int]] = {}  # address -> (when, refused since)
        self.refused = 0

    def acquire(self, host: str) -> Slot | None:
        """A slot for a new connection from ``host``, or None if it has ``limit`` open."""
        address = canonical_address(host)
        with self._lock:
            self._drain_returned()
            count = self._open.get(address, 0)
            if self.limit and count >= self.limit:
                self.refused += 1
                self._log_refusal(address)
                return None
            self._open[address] = count + 1
        return Slot(self, address)

    def give_back(self, address: str) -> None:
        """A connection from ``address`` closed (:meth:`Slot.release` calls this)."""
        with self._lock:
            self._drain_returned()
            self._decrement(address)

    def open_from(self, host: str) -> int:
        """Connections from ``host`` holding a slot now."""
        with self._lock:
            self._drain_returned()
            return self._open.get(canonical_address(host), 0)

    def _drain_returned(self) -> None:
        while self.returned:
            self._decrement(self.returned.popleft())

    def _decrement(self, address: str) -> None:
        count = self._open.get(address, 0) - 1
        if count > 0:
            self._open[address] = count
        else:
            self._open.pop(address, None)

    def _log_refusal(self, address: str) -> None:
        now = self._clock()
        last, refused_since = self._last_logged.get(address, (None, 0))
        if last is not None and now - last < LOG_INTERVAL:
            self._last_logged[address] = (last, refused_since + 1)
            return
        if len(self._last_logged) >= _MAX_LOG_ENTRIES:
            self._last_logged.clear()  # bounded: a spread-out flood only logs a bit more
        self._last_logged[address] = (now, 0)
        more = f" ({refused_since} more refused since the last report)" if refused_since else ""
        logger.warning(
            "refusing connection from %s: it has %d open, the limit per address%s",
            address,
            self.limit,
            more,
        )
