"""Relay settings from TOML."""

from __future__ import annotations

from pathlib import Path

import pytest

from rtmp_actors.relay.config import RelayConfig


def test_defaults_need_no_file() -> None:
    config = RelayConfig()
    assert (config.host, config.port, config.stream.gop_cache) == ("127.0.0.1", 1935, True)


def test_toml_overrides(tmp_path: Path) -> None:
    path = tmp_path / "relay.toml"
    path.write_text(
        '[server]\nport = 1940\npush = ["rtmp://a/live"]\nrecord_dir = "/tmp/rec"\n'
        "[stream]\ntakeover = true\nidle_publisher_timeout = 3\n"
        "[session]\nchunk_size = 8192\n"
    )
    config = RelayConfig.from_toml(path)
    assert config.port == 1940
    assert config.push == ("rtmp://a/live",)
    assert config.record_dir == "/tmp/rec"
    assert config.stream.takeover
    assert config.stream.idle_publisher_timeout == 3
    assert config.session.chunk_size == 8192
    assert config.host == "127.0.0.1"  # untouched


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[nope]\na = 1\n", "unknown table"),
        ("[server]\nprot = 1\n", "no setting 'prot'"),
        ('[server]\nport = "x"\n', "port should be like 1935"),
        ("[stream]\ngop_cache = 1\n", "gop_cache should be like True"),
    ],
)
def test_bad_settings(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "relay.toml"
    path.write_text(text)
    with pytest.raises(ValueError, match=message):
        RelayConfig.from_toml(path)
