"""``rtmp-actors serve``: the live relay server."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pykka

from rtmp_actors.cluster.directory import DirectoryError
from rtmp_actors.relay.config import RelayConfig
from rtmp_actors.relay.hls import HlsSettings
from rtmp_actors.relay.server import RelayServer
from rtmp_actors.running import serve_forever
from rtmp_actors.tools.workers import run_workers

__all__ = ["JsonLogFormatter", "add_parser"]

logger = logging.getLogger("rtmp_actors.serve")


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
    parser.add_argument(
        "--auth-url", metavar="URL", help="ask this HTTP endpoint about each publish/play"
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
    }
    return replace(config, **{name: value for name, value in options.items() if value is not None})


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
        return run_workers(serve_args, args.workers, config.host, config.port)
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
        print(f"serve: cannot listen on {where}: {error}", file=sys.stderr)
        return 1
    if not stopped_by_signal:
        print("serve: the relay gave up (its log says which part failed and why)", file=sys.stderr)
        return 1
    return 0
