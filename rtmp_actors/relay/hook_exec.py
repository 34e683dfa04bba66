"""Exec hooks: run a configured command with a stream's details as arguments, never a shell.

A command is an argv list from the config (``["/usr/bin/logger", "published", "$app",
"$name"]``). Each argument has ``$var``/``${var}`` replaced by the value of a known variable;
the result is still exactly one argument, whatever the value holds (spaces, ``;``, ``$(...)``,
backticks, newlines), because no shell ever parses it: the argv goes straight to ``execve``.
Unknown variables stay as written. The command runs on a small bounded pool with a timeout;
its output goes to the log, a bounded amount of it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import signal
import subprocess
from collections.abc import Mapping, Sequence

from rtmp_actors.relay.hook_http import BoundedPool

__all__ = ["CommandRunner", "expand_command"]

logger = logging.getLogger(__name__)

MAX_LOGGED_OUTPUT = 4096
"""Characters of a command's output that reach the log."""

_VARIABLE = re.compile(r"\$(?:\{(\w+)\}|(\w+))")


def expand_command(argv: Sequence[str], variables: Mapping[str, str]) -> list[str]:
    """Substitute ``$var`` and ``${var}`` in each argument; one argument stays one argument.

    Args:
        argv: The command as configured.
        variables: Values by name (``app``, ``name``, ``addr``, ``path``...).
    """

    def value(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        return variables.get(name, match.group(0))

    return [_VARIABLE.sub(value, argument) for argument in argv]


class CommandRunner:
    """Runs exec hooks in the background, a few at a time, each within a timeout.

    Args:
        timeout: Seconds a command may run before it (and its process group) is killed.
        max_running: Commands run at the same time.
        max_pending: Commands queued or running; beyond this a command is skipped (logged).
    """

    def __init__(self, timeout: float = 30.0, max_running: int = 4, max_pending: int = 64) -> None:
        self.timeout = timeout
        self._max_running = max_running
        self._max_pending = max_pending
        self._pool: BoundedPool | None = None

    def start(self) -> None:
        """Make the worker pool (again, after :meth:`stop`)."""
        if self._pool is None:
            self._pool = BoundedPool(self._max_running, self._max_pending, "rtmp-exec-hook")

    def stop(self) -> None:
        """Take no more commands; queued ones still run."""
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown()

    def run(self, hook: str, argv: Sequence[str], variables: Mapping[str, str]) -> bool:
        """Run ``argv`` with ``variables`` substituted, in the background.

        Returns:
            False if the command was not queued (no command, too many pending, stopped).
        """
        if not argv:
            return False
        command = expand_command(argv, variables)
        pool = self._pool
        if pool is None or not pool.submit(lambda: self.run_now(hook, command)):
            logger.warning("%s: not run (too many commands pending): %r", hook, command)
            return False
        return True

    def run_now(self, hook: str, command: list[str]) -> int | None:
        """Run ``command`` and wait for it (blocks; the pool runs this).

        Returns:
            Its exit status, or None if it could not start or was killed at the timeout.
        """
        try:
            process = subprocess.Popen(  # an argv list: no shell, by design
                command,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                close_fds=True,
                start_new_session=True,  # its own process group, killed as one at the timeout
            )
        except (OSError, ValueError) as error:  # not found, not executable, a NUL in an arg
            logger.error("%s: cannot run %r: %s", hook, command, error)
            return None
        try:
            output, _ = process.communicate(timeout=self.timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            try:
                output, _ = process.communicate(timeout=5.0)
            except subprocess.TimeoutExpired:  # something outside the group holds the pipe
                process.kill()
                output = b""
            logger.warning("%s: %r killed after %g s", hook, command, self.timeout)
            self._log_output(hook, output)
            return None
        self._log_output(hook, output)
        if process.returncode != 0:
            logger.warning("%s: %r exited with %d", hook, command, process.returncode)
        else:
            logger.info("%s: ran %r", hook, command)
        return process.returncode

    @staticmethod
    def _log_output(hook: str, output: bytes | None) -> None:
        if not output:
            return
        text = output.decode("utf-8", "replace")
        if len(text) > MAX_LOGGED_OUTPUT:
            text = text[:MAX_LOGGED_OUTPUT] + f"... ({len(text) - MAX_LOGGED_OUTPUT} more)"
        logger.info("%s output: %s", hook, text.rstrip())
