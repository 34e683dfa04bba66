"""The sans-I/O core imports no actor, transport or pykka code, even indirectly."""

from __future__ import annotations

import subprocess
import sys

CORE = (
    "rtmp_actors.protocol.connection",
    "rtmp_actors.protocol.prepared",
    "rtmp_actors.media",
    "rtmp_actors.session.server",
    "rtmp_actors.session.client",
    "rtmp_actors.session.playback",
)


def test_the_core_loads_without_pykka_actors_or_transports() -> None:
    program = (
        "import sys\n"
        + "".join(f"import {module}\n" for module in CORE)
        + "print(sorted(m for m in sys.modules if m == 'pykka' or m.startswith(("
        "'pykka.', 'behaviours', 'rtmp_actors.actors', 'rtmp_actors.transport', "
        "'rtmp_actors.relay'))))"
    )
    result = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "[]"
