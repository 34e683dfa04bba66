"""The relay server's settings: embedded defaults, optionally overridden by a TOML file."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from rtmp_actors.actors.protocol_handler import FlowControl
from rtmp_actors.relay.hls import HlsSettings
from rtmp_actors.relay.stream import StreamPolicy
from rtmp_actors.session.server_config import ServerSessionConfig

__all__ = ["RelayConfig"]


@dataclass(frozen=True, slots=True)
class RelayConfig:
    """Everything ``rtmp-actors serve`` can be told.

    Attributes:
        host: Address to listen on.
        port: Port to listen on.
        max_connections: Connections beyond this are refused.
        session: RTMP session settings (chunk size, windows, ping interval, limits).
        flow: Timeouts and the slow-player policy.
        stream: Live stream behaviour (GOP cache, takeover, idle publishers).
        record_dir: Write each published stream to an FLV file in this folder.
        auth_file: A file of stream keys allowed to publish and play.
        auth_url: An HTTP endpoint asked about every publish and play (2xx allows).
        auth_timeout: Seconds to wait for ``auth_url`` before refusing.
        http_host: Address of the HTTP stats endpoint.
        http_port: Serve JSON stats and Prometheus metrics on this port.
        http_flv: Also play live streams over HTTP-FLV there (``/APP/KEY.flv``).
        hls: Package every published stream as HLS (served at ``/hls/APP/KEY/index.m3u8``
            on the HTTP port); None: no HLS.
        push: Republish every stream to these ``rtmp://host/app`` URLs.
        pull: Fetch streams nobody publishes here from these ``rtmp://host/app`` URLs.
        cluster: Join the cluster whose stream directory is at this URL
            (``redis://host:port/db``; see :mod:`rtmp_actors.cluster`).
        advertise: This relay's ``rtmp://host:port`` as the cluster's other nodes reach it
            (default: the listening address, which must then not be a wildcard; with
            ``cluster_port``, that listener's address).
        cluster_port: Also listen on this port (0: any free one) of ``host`` for the
            cluster's other nodes, and advertise it: for workers that share ``port``.
        reuse_port: Listen on ``port`` with ``SO_REUSEPORT`` (``serve --workers``).
        chain_after: In a cluster, pull a stream from another edge once its origin's node has
            this many players (0: always from the origin; see ``ClusterSettings``).
    """

    host: str = "127.0.0.1"
    port: int = 1935
    max_connections: int = 1000
    session: ServerSessionConfig = field(default_factory=ServerSessionConfig)
    flow: FlowControl = field(default_factory=FlowControl)
    stream: StreamPolicy = field(default_factory=StreamPolicy)
    record_dir: str | None = None
    auth_file: str | None = None
    auth_url: str | None = None
    auth_timeout: float = 5.0
    http_host: str = "127.0.0.1"
    http_port: int | None = None
    http_flv: bool = True
    hls: HlsSettings | None = None
    push: tuple[str, ...] = ()
    pull: tuple[str, ...] = ()
    cluster: str | None = None
    advertise: str | None = None
    cluster_port: int | None = None
    chain_after: int = 0
    reuse_port: bool = False

    @classmethod
    def from_toml(cls, path: str | Path) -> RelayConfig:
        """Read settings from a TOML file; anything it does not give keeps its default.

        The file may have ``[server]`` (host, port, max_connections), ``[session]``, ``[flow]``
        and ``[stream]`` tables, whose keys are the fields of those settings classes, and
        ``[hls]`` (:class:`HlsSettings`), whose presence turns HLS on.

        Raises:
            ValueError: For an unknown table or key, or a value of the wrong kind.
        """
        with open(path, "rb") as file:
            document = tomllib.load(file)
        config = cls()
        server = document.pop("server", {})
        hls = document.pop("hls", None)
        sections: dict[str, Any] = {
            "session": config.session,
            "flow": config.flow,
            "stream": config.stream,
        }
        unknown = set(document) - set(sections)
        if unknown:
            msg = f"{path}: unknown table(s) {', '.join(sorted(unknown))}"
            raise ValueError(msg)
        updates: dict[str, Any] = _checked(
            path, "server", server, config, frozenset(sections) | {"hls"}
        )
        if hls is not None:
            defaults = HlsSettings()
            updates["hls"] = replace(defaults, **_checked(path, "hls", hls, defaults))
        for name, current in sections.items():
            if name in document:
                updates[name] = replace(current, **_checked(path, name, document[name], current))
        return replace(config, **updates)


def _checked(
    path: str | Path,
    table: str,
    values: dict[str, Any],
    target: Any,
    skip: frozenset[str] = frozenset(),
) -> dict[str, Any]:
    """Check a TOML table's keys and value kinds against the settings object they update."""
    known = {f.name for f in fields(target) if f.name not in skip}
    checked: dict[str, Any] = {}
    for key, given in values.items():
        value = given
        if key not in known:
            msg = f"{path}: [{table}] has no setting {key!r} (known: {', '.join(sorted(known))})"
            raise ValueError(msg)
        default = getattr(target, key)
        if isinstance(default, tuple):
            ok = isinstance(value, list) and all(isinstance(item, str) for item in value)
            value = tuple(value) if ok else value
        elif default is None:
            ok = isinstance(value, str | int) and not isinstance(value, bool)
        elif isinstance(default, bool):
            ok = isinstance(value, bool)
        elif isinstance(default, float):
            ok = isinstance(value, int | float) and not isinstance(value, bool)
        else:
            ok = isinstance(value, type(default)) and not isinstance(value, bool)
        if not ok:
            msg = f"{path}: [{table}] {key} should be like {default!r}, not {value!r}"
            raise ValueError(msg)
        checked[key] = value
    return checked
