"""Play names to files: which FLV file under the library's root a ``play`` name means.

A name comes from the network, so it is checked part by part before the file system is
touched, and the resolved path is checked again afterwards: a name may only be plain path
parts of letters, digits and ``-_.`` (no ``..``, no hidden or empty parts, no absolute path, no
backslash, NUL or ``%`` escape), and the real path of the file it names, symlinks followed,
must lie inside the real path of the root. A name without ``.flv`` gets it added.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from rtmp_actors.errors import RtmpError
from rtmp_actors.limits import DEFAULT_LIMITS

__all__ = ["MAX_NAME_PARTS", "VodNameError", "resolve_vod_name"]

MAX_NAME_PARTS = 16
"""Most folder levels a play name may go down."""

_PART = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]*")
_SUFFIX = ".flv"


class VodNameError(RtmpError):
    """A play name that names no playable file under the root; the message says why."""


def resolve_vod_name(
    root: str | os.PathLike[str], name: str, *, max_length: int = DEFAULT_LIMITS.max_name_length
) -> Path:
    """The real path of the FLV file ``name`` names under ``root``.

    Args:
        root: The library's folder.
        name: The stream name a player asked for, ``.flv`` optional (``show/part1``).
        max_length: Longest name accepted, in UTF-8 bytes.

    Returns:
        The resolved path: a regular file inside the resolved ``root``.

    Raises:
        VodNameError: If the name is malformed, escapes the root, or names no regular file.
    """
    _check_syntax(name, max_length)
    if not name.lower().endswith(_SUFFIX):
        name += _SUFFIX
    real_root = Path(root).resolve(strict=True)
    try:
        # strict: every part must exist, so no symlink is left unresolved.
        path = real_root.joinpath(*name.split("/")).resolve(strict=True)
    except (OSError, RuntimeError) as error:  # missing, or a symlink loop
        msg = f"{name!r}: no such file"
        raise VodNameError(msg) from error
    if not path.is_relative_to(real_root) or path == real_root:
        msg = f"{name!r} leads outside the library"
        raise VodNameError(msg)
    if not path.is_file():
        msg = f"{name!r} is not a regular file"
        raise VodNameError(msg)
    return path


def _check_syntax(name: str, max_length: int) -> None:
    if not name:
        msg = "the name is empty"
        raise VodNameError(msg)
    if len(name.encode("utf-8", "surrogatepass")) > max_length:
        msg = f"the name is longer than {max_length} bytes"
        raise VodNameError(msg)
    parts = name.split("/")
    if len(parts) > MAX_NAME_PARTS:
        msg = f"the name has more than {MAX_NAME_PARTS} parts"
        raise VodNameError(msg)
    for part in parts:
        # Only plain characters: no "..", hidden files, "\\", NUL, "%2e" or drive letters.
        if _PART.fullmatch(part) is None or ".." in part:
            msg = f"{name!r}: {part!r} is not a plain file or folder name"
            raise VodNameError(msg)
    if not parts[-1].lower().endswith(_SUFFIX) and "." in parts[-1]:
        msg = f"{name!r} is not an FLV file"
        raise VodNameError(msg)
