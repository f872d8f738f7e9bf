"""Child processes that must not outlive the process that started them.

`python portal/processes.py PARENT_PID -- ARGV...` asks the kernel to send SIGTERM to
itself when PARENT_PID dies (even by SIGKILL), then execs ARGV, which keeps that
setting. It replaces a `preexec_fn`, which Python documents as unsafe once threads run
(runstack relays output in threads): the fork runs no Python code, and the group of
the child comes from `start_new_session=True`, done in C."""

import ctypes
import os
import signal
import sys

PR_SET_PDEATHSIG = 1


def set_parent_death_signal(sig: int = signal.SIGTERM) -> None:
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, sig)


def wrap(argv: list[str], parent_pid: int | None = None) -> list[str]:
    """The command line that runs `argv` so that it dies with this process."""
    # Run as a script, not `-m portal.processes`: importing the package would load
    # Celery (and the instance file) in every wrapper for nothing.
    return [
        sys.executable,
        os.path.abspath(__file__),
        str(parent_pid or os.getpid()),
        "--",
        *argv,
    ]


def main(args: list[str]) -> None:
    parent, separator, *argv = args
    if separator != "--" or not argv:
        sys.exit("usage: python portal/processes.py PARENT_PID -- COMMAND [ARGS...]")
    set_parent_death_signal(signal.SIGTERM)
    # The parent may have died before the line above: then nobody would send the signal.
    if os.getppid() != int(parent):
        sys.exit(1)
    # The command runstack was given, run as it was given (no shell involved).
    os.execvp(argv[0], argv)  # noqa: S606  # nosec B606


if __name__ == "__main__":
    main(sys.argv[1:])
