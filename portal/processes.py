"""Child processes that must not outlive the process that started them."""

import ctypes
import os
import signal

PR_SET_PDEATHSIG = 1


def die_with_parent(sig: int = signal.SIGTERM, *, new_session: bool = True) -> None:
    """For `preexec_fn`: the kernel sends `sig` to the child when its parent dies (even
    by SIGKILL), and the child leads its own process group so it can be stopped whole."""
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, sig)
    if new_session:
        os.setsid()
