"""Log lines that name their connection, and lines a flood must not repeat without end."""

from __future__ import annotations

import logging
from collections.abc import MutableMapping
from typing import Any

__all__ = ["ConnectionLog", "LogThrottle"]


class ConnectionLog(logging.LoggerAdapter[logging.Logger]):
    """Prefixes every line with ``[connection id]`` and records it as ``connection_id``.

    The attribute lets structured formatters (``rtmp-actors serve --log-format json``) put
    the id in a field of its own.
    """

    def __init__(self, logger: logging.Logger, connection_id: str) -> None:
        super().__init__(logger, {"connection_id": connection_id})
        # Escaped: the prefix becomes part of the %-format string.
        self._prefix = f"[{connection_id}] ".replace("%", "%%") if connection_id else ""

    def process(
        self, msg: Any, kwargs: MutableMapping[str, Any]
    ) -> tuple[Any, MutableMapping[str, Any]]:
        kwargs["extra"] = {**(self.extra or {}), **kwargs.get("extra", {})}
        return f"{self._prefix}{msg}", kwargs


class LogThrottle:
    """Lets a repeated log line through at most once per ``interval`` seconds.

    For lines a peer can cause at will (refused connections): a flood costs a line every
    ``interval``, saying how many were left out.

    Args:
        interval: Seconds between two lines.
    """

    def __init__(self, interval: float = 10.0) -> None:
        self._interval = interval
        self._last: float | None = None
        self._left_out = 0

    def due(self, now: float) -> int | None:
        """At ``now``: None to leave the line out, else how many were left out before it."""
        if self._last is not None and now - self._last < self._interval:
            self._left_out += 1
            return None
        left_out, self._left_out, self._last = self._left_out, 0, now
        return left_out
