"""One process at a time per state file: an OS lock on a file beside it, and private directories.

Contract:

1. :func:`acquire` takes an exclusive, non-blocking OS lock on ``<state file>.lock``
   (``flock`` on POSIX, ``msvcrt.locking`` on Windows), created owner-only, retrying until
   ``timeout`` seconds have passed; then it raises :class:`StateLocked` (a
   :class:`~beacon.UsageError`) saying another client is using the state. The lock is held
   per open file description, so a second client in the *same* process is refused too, and
   the OS drops it when the holder dies: a killed sync never leaves a stale lock. The lock
   file stays in place (deleting it would let two holders lock two different files).
2. :func:`private_directories` creates every missing directory of a path with mode 0700,
   whatever the umask (``mkdir -p`` gives parents the default mode), and leaves existing
   directories alone.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from beacon._errors import UsageError

__all__ = ["StateLock", "StateLocked", "acquire", "private_directories"]

if sys.platform == "win32":  # pragma: no cover - the suite runs on POSIX
    import msvcrt

    def _try_lock(fd: int) -> bool:
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True

else:
    import fcntl

    def _try_lock(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True


#: Seconds between two attempts while waiting for the lock.
_POLL = 0.05


class StateLocked(UsageError):
    """Another client (in this process or another) has the state file open: a sync is
    running there. Try again when it has finished."""

    kind = "state_locked"


class StateLock:
    """A held lock; :meth:`release` (idempotent) gives it back."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self._fd: int | None = fd

    def __repr__(self) -> str:
        return f"StateLock({str(self.path)!r}, held={self._fd is not None})"

    @property
    def held(self) -> bool:
        """True until :meth:`release`."""
        return self._fd is not None

    def release(self) -> None:
        """Unlock and close the lock file (closing drops the lock on every platform)."""
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)

    def __del__(self) -> None:  # an abandoned client: let the next one in
        self.release()


def lock_path(state_file: Path) -> Path:
    """The lock file of a state file: ``<name>.lock`` beside it."""
    return state_file.with_name(state_file.name + ".lock")


def acquire(state_file: Path, *, timeout: float = 0.0) -> StateLock:
    """Lock ``state_file`` for this client (see the module docstring).

    Raises:
        StateLocked: another client holds it for longer than ``timeout`` seconds.
        UsageError: the lock file cannot be created or locked (permissions, no locks on
            this file system).
    """
    path = lock_path(state_file)
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise UsageError(f"cannot create the lock file {str(path)!r}: {exc.strerror}") from None
    deadline = time.monotonic() + max(0.0, timeout)
    try:
        while not _try_lock(fd):
            if time.monotonic() >= deadline:
                raise StateLocked(
                    f"another beacon client is using {str(state_file)!r} (a sync is running"
                    " there); try again when it has finished"
                )
            time.sleep(_POLL)
    except OSError as exc:
        os.close(fd)
        raise UsageError(f"cannot lock {str(path)!r}: {exc.strerror}") from None
    except BaseException:
        os.close(fd)
        raise
    return StateLock(path, fd)


def private_directories(directory: Path) -> None:
    """Create ``directory`` and its missing parents, each owner-only (0700).

    Raises:
        UsageError: a directory cannot be created.
    """
    missing: list[Path] = []
    current = directory
    while not current.exists() and current != current.parent:
        missing.append(current)
        current = current.parent
    for path in reversed(missing):
        try:
            os.mkdir(path, 0o700)
        except FileExistsError:
            continue  # created meanwhile by someone else: not ours to change
        except OSError as exc:
            raise UsageError(f"cannot create the directory {str(path)!r}: {exc.strerror}") from None
        os.chmod(path, 0o700)  # the umask may have taken the owner's bits too
