"""The library: its settings are checked, and players of one file share its index."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from rtmp_actors.transport.io_loop import TimerHandle
from rtmp_actors.vod.library import VodLibrary, VodSettings
from rtmp_actors.vod.names import VodNameError


def no_timers(delay: float, callback: object) -> TimerHandle:
    raise AssertionError("no timer expected")


def test_players_of_one_file_share_its_index_until_it_changes(
    vod_dir: Path, tmp_path: Path
) -> None:
    copy = tmp_path / "copy.flv"
    copy.write_bytes((vod_dir / "test.flv").read_bytes())
    library = VodLibrary(VodSettings(str(tmp_path)), no_timers)
    path = library.resolve("copy?token=abc")  # a query string is not part of the name
    with open(path, "rb") as first, open(path, "rb") as second:
        index = library.index(path, first)
        assert library.index(path, second) is index
    with open(copy, "ab") as grown:
        grown.write(b"\x00")  # a cut-off tag: the file changed
    os.utime(copy, ns=(1, 1))
    with open(path, "rb") as third:
        assert library.index(path, third) is not index


def test_bad_settings_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not a folder"):
        VodLibrary(VodSettings(str(tmp_path / "missing")), no_timers)
    with pytest.raises(ValueError, match="negative"):
        VodLibrary(VodSettings(str(tmp_path), lead=-1), no_timers)


def test_only_its_app_is_served(tmp_path: Path) -> None:
    library = VodLibrary(VodSettings(str(tmp_path), app="films"), no_timers)
    assert library.serves("films")
    assert not library.serves("vod")
    with pytest.raises(VodNameError):
        library.resolve("../films")
