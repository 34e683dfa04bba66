"""Log lines that name their connection."""

from __future__ import annotations

import logging
from collections.abc import MutableMapping
from typing import Any

__all__ = ["ConnectionLog"]


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
