"""The relay server's settings: embedded defaults, optionally overridden by a TOML file."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from rtmp_actors.actors.protocol_handler import FlowControl
from rtmp_actors.relay.applications import Application, Applications
from rtmp_actors.relay.hls import HlsSettings
from rtmp_actors.relay.hooks import HookSettings
from rtmp_actors.relay.ip_rules import IpRules
from rtmp_actors.relay.stream import StreamPolicy
from rtmp_actors.relay.tls import TlsSettings
from rtmp_actors.session.server_config import ServerSessionConfig

__all__ = ["ControlConfig", "RelayConfig"]


@dataclass(frozen=True, slots=True)
class ControlConfig:
    """The control API on the HTTP port (``/control/...``; see :mod:`rtmp_actors.relay.control`).

    Attributes:
        token: The bearer token every call must carry; None turns the API off (404).
        record_dir: Where recordings started through the API go when the relay does not
            record everything (``record_dir``, which they use otherwise).
        redirect_grace: Seconds a publisher asked to reconnect elsewhere may take to leave
            before it is dropped (0: never dropped).
        max_body: Largest request body, in bytes.
    """

    token: str | None = None
    record_dir: str | None = None
    redirect_grace: float = 5.0
    max_body: int = 16 * 1024

    def __post_init__(self) -> None:
        if self.token is not None and (not isinstance(self.token, str) or not self.token):
            msg = "the control token must be a non-empty string"
            raise ValueError(msg)
        if self.redirect_grace < 0 or self.max_body < 1:
            msg = "redirect_grace must be at least 0 and max_body at least 1"
            raise ValueError(msg)


@dataclass(frozen=True, slots=True)
class RelayConfig:
    """Everything ``rtmp-actors serve`` can be told.

    Attributes:
        host: Address to listen on.
        port: Port to listen on.
        max_connections: Connections beyond this are refused.
        max_connections_per_address: Connections from one client address beyond this are
            refused at accept, before the handshake (0: no limit); counted over the plain
            and the RTMPS listener and the HTTP port (requests, and HTTP-FLV players)
            together.
        tls: An RTMPS listener beside the plain one (``[tls]``: port, cert, key).
        ip_rules: Allow or deny publish and play by client address (``[ip_rules]``:
            ``rules = ["allow publish 127.0.0.1", "deny publish all"]``).
        session: RTMP session settings (chunk size, windows, ping interval, limits).
        flow: Timeouts and the slow-player policy.
        stream: Live stream behaviour (GOP cache, takeover, idle publishers).
        record_dir: Write each published stream to an FLV file in this folder.
        auth_file: A file of stream keys allowed to publish and play.
        auth_url: An HTTP endpoint asked about every publish and play (2xx allows); the
            default of ``hooks.on_publish`` and ``hooks.on_play``.
        auth_timeout: Seconds to wait for ``auth_url`` before refusing.
        http_host: Address of the HTTP stats endpoint.
        http_port: Serve JSON stats and Prometheus metrics on this port.
        http_flv: Also play live streams over HTTP-FLV there (``/APP/KEY.flv``).
        http_max_requests: HTTP requests answered at once (stats, control, HLS files, the
            start of an HTTP-FLV response); more are closed unanswered. HTTP-FLV players
            hold no request once playing: at most ``max_connections`` of them play at once.
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
        reuse_port: Listen on ``port`` with ``SO_REUSEPORT`` (``serve --workers``); the HTTP
            and HTTPS ports too.
        shared_hls_dir: The HLS folder when the HLS settings name none, instead of a
            temporary one of this relay's (``serve --workers``: one folder for all workers,
            made and deleted by the parent).
        chain_after: In a cluster, pull a stream from another edge once its origin's node has
            this many players (0: always from the origin; see ``ClusterSettings``).
        vod_dir: Play the FLV files of this folder on demand, to players of ``vod_app``.
        vod_app: The app name of on-demand files (``rtmp://host/vod/file.flv``).
        vod_lead: Seconds of a file sent ahead of real time, so players buffer a little.
        control: The control API (off without a token).
        hooks: nginx-rtmp's lifecycle hooks (``on_connect``, ``on_publish_done``,
            ``exec_publish``, ...; see :class:`~rtmp_actors.relay.hooks.HookSettings`).
        applications: Per-application settings (``[applications.NAME]``); with any, only
            those apps (and ``vod_app``) are served (see :mod:`rtmp_actors.relay.applications`).
    """

    host: str = "127.0.0.1"
    port: int = 1935
    max_connections: int = 1000
    max_connections_per_address: int = 50
    tls: TlsSettings = field(default_factory=TlsSettings)
    ip_rules: IpRules = field(default_factory=IpRules)
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
    http_max_requests: int = 64
    hls: HlsSettings | None = None
    push: tuple[str, ...] = ()
    pull: tuple[str, ...] = ()
    cluster: str | None = None
    advertise: str | None = None
    cluster_port: int | None = None
    chain_after: int = 0
    reuse_port: bool = False
    shared_hls_dir: str | None = None
    vod_dir: str | None = None
    vod_app: str = "vod"
    vod_lead: float = 1.0
    control: ControlConfig = field(default_factory=ControlConfig)
    hooks: HookSettings = field(default_factory=HookSettings)
    applications: Applications = field(default_factory=Applications)

    @property
    def hls_in_effect(self) -> HlsSettings | None:
        """The HLS settings the relay runs with (None: no HLS).

        ``hls``, or the defaults when only some applications turn HLS on.
        """
        if self.hls is not None:
            return self.hls
        return HlsSettings() if self.applications.any_hls() else None

    @classmethod
    def from_toml(cls, path: str | Path) -> RelayConfig:
        """Read settings from a TOML file; anything it does not give keeps its default.

        The file may have ``[server]`` (host, port, max_connections, ...), ``[session]``,
        ``[flow]``, ``[stream]``, ``[control]``, ``[hooks]``, ``[tls]`` and ``[ip_rules]``
        tables, whose keys are the fields of those settings classes, ``[hls]``
        (:class:`HlsSettings`), whose presence turns HLS on, and ``[applications.NAME]``
        tables (see :class:`Application`).

        Raises:
            ValueError: For an unknown table or key, or a value of the wrong kind.
        """
        with open(path, "rb") as file:
            document = tomllib.load(file)
        config = cls()
        server = document.pop("server", {})
        applications = _applications(path, document.pop("applications", {}))
        hls = document.pop("hls", None)
        sections: dict[str, Any] = {
            "session": config.session,
            "flow": config.flow,
            "stream": config.stream,
            "control": config.control,
            "hooks": config.hooks,
            "tls": config.tls,
            "ip_rules": config.ip_rules,
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
                checked = _checked(path, name, document[name], current)
                try:
                    updates[name] = replace(current, **checked)
                except ValueError as error:  # settings that check themselves (tls, ip_rules)
                    msg = f"{path}: [{name}] {error}"
                    raise ValueError(msg) from None
        if applications:
            updates["applications"] = applications
        return replace(config, **updates)


def _applications(path: str | Path, tables: Any) -> Applications:
    """Read the ``[applications.NAME]`` tables."""
    if not isinstance(tables, dict) or not all(isinstance(t, dict) for t in tables.values()):
        msg = f"{path}: [applications] should hold one [applications.NAME] table per app"
        raise ValueError(msg)
    try:
        return Applications.of(
            Application.from_table(name, _with_hooks(path, name, table))
            for name, table in tables.items()
        )
    except ValueError as error:
        if str(error).startswith(str(path)):
            raise
        msg = f"{path}: {error}"
        raise ValueError(msg) from None


def _with_hooks(path: str | Path, name: str, table: dict[str, Any]) -> dict[str, Any]:
    """An application's table with its ``hooks`` sub-table read as :class:`HookSettings`."""
    hooks = table.get("hooks")
    if hooks is None:
        return table
    if not isinstance(hooks, dict):
        msg = f"[applications.{name}] hooks should be a table"
        raise ValueError(msg)
    settings = HookSettings()
    settings = replace(settings, **_checked(path, f"applications.{name}.hooks", hooks, settings))
    return {**table, "hooks": settings}


def _checked(
    path: str | Path,
    table: str,
    values: dict[str, Any],
    target: Any,
    skip: frozenset[str] = frozenset(),
) -> dict[str, Any]:
    """Check a TOML table's keys and value kinds against the settings object they update."""
    known = {f.name for f in fields(target) if f.init and f.name not in skip}
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
