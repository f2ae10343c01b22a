"""Run the ``ik_server`` executable in a subprocess: start it, wait until it serves, stop it.

    with running_ik_server("model_path:=none", namespace="/demo") as server:
        ...  # call /demo/compute_ik; server.log() is what the node has said so far

The node is started as users start it (the console script, config/ik_server.yaml, ``-p``
parameters and ``-r`` remaps) and stopped with SIGINT, as Ctrl-C does; leaving the block checks
that it exited with 0 and without a traceback. The tests and the server benchmarks all start
their nodes here; user scripts can too. No rclpy here: readiness is the node's ``serving`` log
line, so this module works without a ROS context.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

from dtd_ik.exceptions import DtdIkError
from dtd_ik.paths import config_path

#: The node says this once its services are created and it is about to spin.
READY_LINE = "serving "


class ServerProcessError(DtdIkError, RuntimeError):
    """The node did not come up in time, or did not stop cleanly; the message holds its log."""


def ik_server_command(
    *params: str,
    namespace: str = "/",
    params_file: str | Path | None = None,
    remaps: Mapping[str, str] | None = None,
    executable: Sequence[str] | None = None,
) -> list[str]:
    """The command line that starts the node.

    Args:
        params: ``name:=value`` parameters, laid over the parameter file.
        namespace: the node's namespace (its services are ``<namespace>/compute_ik``...).
        params_file: a ROS parameter YAML; None = the shipped config/ik_server.yaml.
        remaps: ``from: to`` name remaps (e.g. ``{"~/solution": "/joint_states"}``).
        executable: the program and its own arguments; None = the ``ik_server`` console script
            beside this Python (``python -m dtd_ik.ros.server`` where there is none).
    """
    if executable is None:
        script = Path(sys.prefix) / "bin" / "ik_server"
        executable = (
            [str(script)] if script.exists() else [sys.executable, "-m", "dtd_ik.ros.server"]
        )
    params_file = config_path("ik_server.yaml") if params_file is None else params_file
    cmd = [
        *executable,
        "--ros-args",
        "-r",
        f"__ns:={namespace}",
        "--params-file",
        str(params_file),
    ]
    for source, target in (remaps or {}).items():
        cmd += ["-r", f"{source}:={target}"]
    for p in params:
        cmd += ["-p", p]
    return cmd


class ServerProcess:
    """A started node: its process, its log file (stdout and stderr) and how to stop it."""

    def __init__(self, proc: subprocess.Popen, log_path: Path, namespace: str):
        self.proc = proc
        self.log_path = log_path
        self.namespace = namespace

    @property
    def pid(self) -> int:
        return self.proc.pid

    def log(self) -> str:
        """Everything the node has written so far."""
        return self.log_path.read_text(errors="replace")

    def alive(self) -> bool:
        return self.proc.poll() is None

    def wait_until_serving(self, timeout: float) -> None:
        """Return once the node has logged :data:`READY_LINE`; ServerProcessError if it exits
        or stays silent for ``timeout`` [s]."""
        deadline = time.monotonic() + timeout
        while READY_LINE not in self.log():
            if self.proc.poll() is not None:
                raise ServerProcessError(
                    f"ik_server exited with {self.proc.returncode} before serving:\n{self.log()}"
                )
            if time.monotonic() > deadline:
                raise ServerProcessError(
                    f"ik_server not serving after {timeout:g} s:\n{self.log()}"
                )
            time.sleep(0.05)

    def stop(self, sig: int = signal.SIGINT, timeout: float = 60.0) -> int:
        """Send ``sig`` (if still running) and wait; the exit code. A node that does not stop
        within ``timeout`` [s] is killed and ServerProcessError raised."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()
                raise ServerProcessError(
                    f"ik_server did not stop within {timeout:g} s of "
                    f"{signal.Signals(sig).name}:\n{self.log()}"
                ) from None
        return self.proc.returncode

    def kill(self) -> None:
        """SIGKILL (a crash, as the fault tests simulate it) and reap."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


@contextmanager
def running_ik_server(
    *params: str,
    namespace: str = "/",
    params_file: str | Path | None = None,
    remaps: Mapping[str, str] | None = None,
    env: Mapping[str, str] | None = None,
    log: str | Path | None = None,
    wait: float = 120.0,
    executable: Sequence[str] | None = None,
) -> Iterator[ServerProcess]:
    """Start the node (see :func:`ik_server_command` for the arguments), wait until it serves,
    hand it over, then stop it with SIGINT.

    Args:
        env: the node's environment (e.g. ROS_DOMAIN_ID); None = this process's.
        log: file for its stdout and stderr; None = a temporary file, removed afterwards.
        wait: seconds to wait for the ``serving`` line (loading and compiling come first).

    Raises ServerProcessError when the node does not come up, or when, still running at the end
    of the block, it then exits with a code other than 0 or logs a traceback. A node the block
    stopped or killed itself (:meth:`ServerProcess.stop`, :meth:`ServerProcess.kill`) is not
    checked: the caller judged it.
    """
    temporary = log is None
    if temporary:
        fd, name = tempfile.mkstemp(prefix="ik_server_", suffix=".log")
        os.close(fd)
        log = name
    log_path = Path(log)
    cmd = ik_server_command(
        *params, namespace=namespace, params_file=params_file, remaps=remaps, executable=executable
    )
    with open(log_path, "w") as out:
        proc = subprocess.Popen(
            cmd, stdout=out, stderr=subprocess.STDOUT, env=None if env is None else dict(env)
        )
    server = ServerProcess(proc, log_path, namespace)
    try:
        server.wait_until_serving(wait)
        yield server
        if server.alive():
            code = server.stop()
            text = server.log()
            if code != 0 or "Traceback" in text:
                raise ServerProcessError(f"ik_server stopped with exit code {code}:\n{text}")
    finally:
        if server.alive():  # the block failed: stop it anyway, as cleanly as it will
            try:
                server.stop(timeout=20)
            except ServerProcessError:
                pass  # killed; the block's own error is the one to see
        if temporary:
            log_path.unlink(missing_ok=True)


__all__ = [
    "READY_LINE",
    "ServerProcess",
    "ServerProcessError",
    "ik_server_command",
    "running_ik_server",
]
