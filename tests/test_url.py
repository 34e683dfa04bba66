"""Parsing rtmp:// and rtmps:// URLs."""

from __future__ import annotations

import pytest

from rtmp_actors.url import RtmpUrl


@pytest.mark.parametrize(
    ("url", "parts", "tc_url"),
    [
        ("rtmp://host/live/key", ("rtmp", "host", 1935, "live", "key"), "rtmp://host/live"),
        (
            "rtmp://host:1936/live/key",
            ("rtmp", "host", 1936, "live", "key"),
            "rtmp://host:1936/live",
        ),
        ("rtmps://host/live/key", ("rtmps", "host", 443, "live", "key"), "rtmps://host/live"),
        (
            "RTMP://Host/app/inst/key",
            ("rtmp", "host", 1935, "app/inst", "key"),
            "rtmp://host/app/inst",
        ),
        (
            "rtmp://h/live/key?token=a&b=1",
            ("rtmp", "h", 1935, "live", "key?token=a&b=1"),
            "rtmp://h/live",
        ),
        ("rtmp://[::1]:1935/live/k", ("rtmp", "::1", 1935, "live", "k"), "rtmp://[::1]/live"),
    ],
)
def test_parse(url: str, parts: tuple[str, str, int, str, str], tc_url: str) -> None:
    parsed = RtmpUrl.parse(url)
    assert (parsed.scheme, parsed.host, parsed.port, parsed.app, parsed.stream_key) == parts
    assert parsed.tc_url == tc_url
    assert parsed.tls is (parts[0] == "rtmps")


def test_app_only_when_the_key_is_optional() -> None:
    parsed = RtmpUrl.parse("rtmp://host/live", require_stream_key=False)
    assert (parsed.app, parsed.stream_key) == ("live", "")


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://host/live/key", "not an rtmp:// or rtmps:// URL"),
        ("rtmp:///live/key", "has no host"),
        ("rtmp://host:99999/live/key", "invalid port"),
        ("rtmp://host/", "names no application"),
        ("rtmp://host/live", "names no stream key"),
    ],
)
def test_bad_urls(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RtmpUrl.parse(url)
