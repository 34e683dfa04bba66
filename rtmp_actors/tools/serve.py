"""``rtmp-actors serve``: the live relay server."""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pykka

from rtmp_actors.actors.wiring import scope_connection_ids
from rtmp_actors.cluster.directory import DirectoryError
from rtmp_actors.relay.config import RelayConfig
from rtmp_actors.relay.hls import HlsSettings
from rtmp_actors.relay.hooks import HOOK_URL_FIELDS
from rtmp_actors.relay.ip_rules import IpRules
from rtmp_actors.relay.server import RelayServer
from rtmp_actors.running import serve_forever
from rtmp_actors.tools.workers import run_workers

__all__ = ["JsonLogFormatter", "add_parser"]

logger = logging.getLogger("rtmp_actors.serve")

CONTROL_TOKEN_VARIABLE = "RTMP_ACTORS_CONTROL_TOKEN"
"""The control token from the environment: unlike an argument, not shown by ``ps``."""


def add_parser(subcommands: Any) -> None:
    """Register the ``serve`` subcommand."""
    parser: argparse.ArgumentParser = subcommands.add_parser(
        "serve",
        help="run the live relay server",
        description=(
            "A live RTMP relay: encoders publish to rtmp://HOST:PORT/APP/KEY, players play the "
            "same URL. Any app, any stream key. Runs until SIGTERM or Ctrl-C, then closes "
            "every session politely."
        ),
    )
    parser.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port to listen on (default 1935)")
    parser.add_argument("--config", help="a TOML file of settings (see RelayConfig)")
    parser.add_argument(
        "--takeover",
        action="store_true",
        help="a second publisher on a live stream key replaces the first (default: refused)",
    )
    parser.add_argument("--record", metavar="DIR", help="record every published stream to FLV")
    parser.add_argument("--auth", metavar="FILE", help="stream keys allowed to publish/play")
    parser.add_argument("--vod", metavar="DIR", help="play the FLV files of DIR on demand")
    parser.add_argument("--vod-app", metavar="APP", help="app name of on-demand files (vod)")
    parser.add_argument(
        "--auth-url", metavar="URL", help="ask this HTTP endpoint about each publish/play"
    )
    for hook in HOOK_URL_FIELDS:
        parser.add_argument(
            f"--{hook.replace('_', '-')}",
            metavar="URL",
            help=f"nginx-rtmp's {hook} HTTP hook (more in the config's [hooks] table)",
        )
    parser.add_argument(
        "--http",
        metavar="PORT",
        type=int,
        help="serve stats (/stats, /metrics) and HTTP-FLV (/APP/KEY.flv) on this port",
    )
    parser.add_argument(
        "--no-http-flv", action="store_true", help="do not play streams over HTTP-FLV on --http"
    )
    parser.add_argument("--tls-port", type=int, help="also serve RTMPS on this port")
    parser.add_argument(
        "--https-port", type=int, help="also serve what --http serves over HTTPS, on this port"
    )
    parser.add_argument(
        "--cert", metavar="FILE", help="certificate chain (PEM) for RTMPS and HTTPS"
    )
    parser.add_argument(
        "--key",
        metavar="FILE",
        help="private key (PEM) for RTMPS and HTTPS; both re-read on SIGHUP",
    )
    parser.add_argument(
        "--ip-rule",
        metavar="RULE",
        action="append",
        default=[],
        help="'allow|deny [publish|play] ADDRESS|CIDR|all', in order, first match wins",
    )
    parser.add_argument(
        "--max-connections-per-address",
        metavar="N",
        type=int,
        help="refuse connections from an address that has N open (default 50; 0: no limit)",
    )
    parser.add_argument(
        "--control-token",
        metavar="TOKEN",
        default=os.environ.get(CONTROL_TOKEN_VARIABLE),
        help=f"serve the control API on --http for this bearer token (${CONTROL_TOKEN_VARIABLE})",
    )
    parser.add_argument(
        "--control-record",
        metavar="DIR",
        help="where recordings started through the control API go (without --record)",
    )
    parser.add_argument(
        "--hls",
        nargs="?",
        const="",
        metavar="DIR",
        help="package streams as HLS (/hls/APP/KEY/index.m3u8 on --http), written to DIR if given",
    )
    parser.add_argument(
        "--push", metavar="URL", action="append", default=[], help="republish to rtmp://host/app"
    )
    parser.add_argument(
        "--pull", metavar="URL", action="append", default=[], help="fetch from rtmp://host/app"
    )
    parser.add_argument(
        "--cluster",
        metavar="URL",
        help="join the cluster whose stream directory is at redis://host:port/db",
    )
    parser.add_argument(
        "--advertise",
        metavar="URL",
        help="rtmp://host:port where other nodes reach this one (default: --host, --port)",
    )
    parser.add_argument(
        "--chain-after",
        metavar="N",
        type=int,
        help="pull from another edge once the origin's node has N players (default: never)",
    )
    parser.add_argument(
        "--workers",
        metavar="N",
        type=int,
        default=1,
        help="run N relay processes sharing the port (needs --cluster)",
    )
    parser.add_argument("--reuse-port", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--shared-hls-dir", help=argparse.SUPPRESS)  # from --workers' parent
    parser.add_argument("--worker-id", help=argparse.SUPPRESS)  # likewise: scopes the ids
    parser.add_argument("--cluster-port", type=int, help=argparse.SUPPRESS)
    parser.add_argument(
        "--log-level", default="INFO", choices=("DEBUG", "INFO", "WARNING", "ERROR")
    )
    parser.add_argument(
        "--log-format",
        default="text",
        choices=("text", "json"),
        help="json: one JSON object per line (time, level, logger, message, connection_id)",
    )
    parser.set_defaults(run=_run)


def _config(args: argparse.Namespace) -> RelayConfig:
    config = RelayConfig.from_toml(args.config) if args.config else RelayConfig()
    if args.host is not None:
        config = replace(config, host=args.host)
    if args.port is not None:
        config = replace(config, port=args.port)
    if args.takeover:
        config = replace(config, stream=replace(config.stream, takeover=True))
    if args.no_http_flv:
        config = replace(config, http_flv=False)
    if args.control_token or args.control_record:
        control = config.control
        config = replace(
            config,
            control=replace(
                control,
                token=args.control_token or control.token,
                record_dir=args.control_record or control.record_dir,
            ),
        )
    hooks = {hook: getattr(args, hook) for hook in HOOK_URL_FIELDS if getattr(args, hook)}
    if hooks:
        config = replace(config, hooks=replace(config.hooks, **hooks))
    tls = {
        "port": args.tls_port,
        "https_port": args.https_port,
        "cert": args.cert,
        "key": args.key,
    }
    if any(value is not None for value in tls.values()):
        given = {name: value for name, value in tls.items() if value is not None}
        config = replace(config, tls=replace(config.tls, **given))
    if args.ip_rule:  # after the config file's rules: they are more specific
        config = replace(config, ip_rules=IpRules.of((*args.ip_rule, *config.ip_rules.rules)))
    if args.hls is not None:
        hls = config.hls or HlsSettings()
        config = replace(config, hls=replace(hls, dir=args.hls or hls.dir))
    options = {
        "record_dir": args.record,
        "auth_file": args.auth,
        "auth_url": args.auth_url,
        "http_port": args.http,
        "push": tuple(args.push) or None,
        "pull": tuple(args.pull) or None,
        "cluster": args.cluster,
        "advertise": args.advertise,
        "cluster_port": args.cluster_port,
        "chain_after": args.chain_after,
        "reuse_port": args.reuse_port or None,
        "shared_hls_dir": args.shared_hls_dir,
        "vod_dir": args.vod,
        "vod_app": args.vod_app,
        "max_connections_per_address": args.max_connections_per_address,
    }
    config = replace(
        config, **{name: value for name, value in options.items() if value is not None}
    )
    if config.control.token is not None and config.http_port is None:
        msg = "the control API (a control token) needs the HTTP port (--http)"
        raise ValueError(msg)
    return config


class JsonLogFormatter(logging.Formatter):
    """Formats each record as one line of JSON.

    The keys are ``time`` (UTC, ISO 8601), ``level``, ``logger`` and ``message``, then
    ``connection_id`` when the record carries one (``extra={"connection_id": ...}``, as the
    server, relay and protocol handler log calls pass), and ``exception`` when there is one.
    """

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        connection_id = getattr(record, "connection_id", None)
        if connection_id:
            entry["connection_id"] = str(connection_id)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        return json.dumps(entry, default=str)


def _setup_logging(level: str, log_format: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if log_format == "json":
        handler.setFormatter(JsonLogFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=level, handlers=[handler])


def _reload_on_sighup(relay: RelayServer) -> Any:
    """Reload the TLS certificate (RTMPS, HTTPS) on SIGHUP; returns the previous handler."""
    if threading.current_thread() is not threading.main_thread():
        return None  # only the main thread may set handlers (cli.main from a test thread)

    def on_hup(_signum: int, _frame: object) -> None:
        # Off the signal handler: loading and logging take locks the main thread may hold.
        threading.Thread(target=relay.reload_tls, name="serve-reload-tls").start()

    previous = signal.signal(signal.SIGHUP, on_hup)
    return signal.SIG_DFL if previous is None else previous


def _run(args: argparse.Namespace) -> int:
    _setup_logging(args.log_level, args.log_format)
    try:
        config = _config(args)
    except (OSError, ValueError) as error:
        print(f"serve: {error}", file=sys.stderr)
        return 2
    if args.workers != 1:
        if args.workers < 1 or config.cluster is None:
            print("serve: --workers N needs N >= 1 and --cluster", file=sys.stderr)
            return 2
        serve_args = args.argv[args.argv.index("serve") + 1 :]
        shared_ports = {
            option: (config.http_host, port)
            for option, port in (
                ("--http", config.http_port),
                ("--https-port", config.tls.https_port),
            )
            if port is not None
        }
        hls = config.hls_in_effect
        return run_workers(
            serve_args,
            args.workers,
            config.host,
            config.port,
            shared_ports=shared_ports,
            shared_hls=hls is not None and hls.dir is None,
        )
    if args.worker_id:
        scope_connection_ids(f"{args.worker_id}.")
    try:
        relay = RelayServer(config)
    except (OSError, ValueError) as error:
        # A settings problem found on start (an unreadable or malformed access file, say).
        print(f"serve: {error}", file=sys.stderr)
        pykka.ActorRegistry.stop_all()
        return 2
    listening = False

    def ready(relay: RelayServer) -> None:
        nonlocal listening
        listening = True
        host, port = relay.address
        logger.info("relay listening on rtmp://%s:%s/<app>/<stream key>", host, port)
        if relay.tls_address is not None:
            host, port = relay.tls_address
            logger.info("relay listening on rtmps://%s:%s/<app>/<stream key>", host, port)

    previous_hup = _reload_on_sighup(relay)
    try:
        stopped_by_signal = serve_forever(
            relay,
            ready=ready,
            stopping=lambda: logger.info("stopping: closing every session"),
        )
    except DirectoryError as error:
        print(f"serve: {error}", file=sys.stderr)
        return 1
    except ValueError as error:
        if listening:
            raise
        print(f"serve: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        if listening:
            raise  # not from the start: a real failure
        where = f"{config.host}:{config.port}"
        if config.http_port is not None:
            where += f" (RTMP) or {config.http_host}:{config.http_port} (HTTP)"
        if config.tls.port is not None:
            where += f" or {config.host}:{config.tls.port} (RTMPS)"
        print(f"serve: cannot listen on {where}: {error}", file=sys.stderr)
        return 1
    finally:
        if previous_hup is not None:
            signal.signal(signal.SIGHUP, previous_hup)
    if not stopped_by_signal:
        print("serve: the relay gave up (its log says which part failed and why)", file=sys.stderr)
        return 1
    return 0
