"""Play names to files: every way out of the library is refused."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rtmp_actors.vod.names import VodNameError, resolve_vod_name


@pytest.fixture
def library(tmp_path: Path) -> Path:
    root = tmp_path / "library"
    (root / "show").mkdir(parents=True)
    (root / "film.flv").write_bytes(b"FLV")
    (root / "show" / "part1.flv").write_bytes(b"FLV")
    (root / "notes.txt").write_bytes(b"text")
    (root / ".hidden.flv").write_bytes(b"FLV")
    (root / "folder.flv").mkdir()
    outside = tmp_path / "secret.flv"
    outside.write_bytes(b"FLV")
    (root / "link_out.flv").symlink_to(outside)
    (root / "dir_out").symlink_to(tmp_path)
    (root / "link_in.flv").symlink_to(root / "film.flv")
    return root


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("film.flv", "film.flv"),
        ("film", "film.flv"),
        ("FILM.FLV", None),  # case matters on this file system: not found
        ("show/part1", "show/part1.flv"),
        ("link_in.flv", "film.flv"),  # a symlink that stays inside is followed
    ],
)
def test_plain_names_resolve_inside_the_root(
    library: Path, name: str, expected: str | None
) -> None:
    if expected is None:
        with pytest.raises(VodNameError):
            resolve_vod_name(library, name)
        return
    assert resolve_vod_name(library, name) == (library / expected).resolve()


@pytest.mark.parametrize(
    "name",
    [
        "",
        "../secret.flv",
        "../secret",
        "show/../../secret.flv",
        "show/../film.flv",  # even a ".." that would stay inside
        "..",
        "/etc/passwd",
        "//etc/passwd.flv",
        "show//part1.flv",
        "show/",
        "\\..\\secret.flv",
        "show\\part1.flv",
        "film.flv\x00.txt",
        "film\x00",
        "%2e%2e/secret.flv",
        "..%2fsecret.flv",
        "film%2eflv",
        ".hidden.flv",
        "./film.flv",
        "notes.txt",
        "notes",
        "folder.flv",
        "link_out.flv",
        "dir_out/secret.flv",
        "C:film.flv",
        "missing.flv",
        "fi lm.flv",
        "x" * 2000,
        "/".join(["show"] * 20),
    ],
)
def test_escapes_and_non_files_are_refused(library: Path, name: str) -> None:
    with pytest.raises(VodNameError):
        resolve_vod_name(library, name)


@settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=st.text(alphabet=st.sampled_from("./\\%0aflvsecrtx_-\x00~:"), max_size=30) | st.text())
def test_arbitrary_names_never_resolve_outside_the_root(library: Path, name: str) -> None:
    try:
        path = resolve_vod_name(library, name)
    except VodNameError:
        return
    real_root = library.resolve()
    assert path.is_relative_to(real_root)
    assert path.is_file()
    assert os.path.realpath(path) == str(path)
