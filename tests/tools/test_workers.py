"""``serve --workers``: what each worker is started with, and how its ids are told apart."""

from __future__ import annotations

import re

from rtmp_actors.actors.wiring import next_connection_id, scope_connection_ids, scoped_id
from rtmp_actors.tools.workers import worker_arguments


def test_shared_options_replace_those_given_in_either_form() -> None:
    argv = ["--cluster", "redis://r/0", "--workers", "2", "--http=8080", "--port", "0", "--hls"]
    args = worker_arguments(argv, 1935, {"--http": "8080", "--https-port": "8443"})
    assert args == [
        "--cluster", "redis://r/0", "--hls",
        "--http", "8080", "--https-port", "8443",
        "--port", "1935", "--reuse-port", "--cluster-port", "0",
    ]  # fmt: skip


def test_without_shared_options_only_the_port_changes() -> None:
    args = worker_arguments(["--workers=3", "--port=0", "--http", "9000"], 1935)
    assert args == ["--http", "9000", "--port", "1935", "--reuse-port", "--cluster-port", "0"]


def test_a_scope_goes_before_every_connection_id() -> None:
    assert re.fullmatch(r"s\d+", next_connection_id("s"))
    scope_connection_ids("w2.")
    try:
        assert re.fullmatch(r"w2\.c\d+", next_connection_id("c"))
        assert scoped_id("pull3") == "w2.pull3"
    finally:
        scope_connection_ids("")
