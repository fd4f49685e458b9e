"""The lock that keeps a SQLite store to one :class:`~fleetven.store.SQLiteStore` at a time.

A store at ``fleet.db`` is locked through the file ``fleet.db.lock`` beside it, with the
operating system's ``flock(2)``: an exclusive lock, taken without waiting when the store opens,
held while it is open and released when it closes. The kernel releases it too when the process
ends, however it ends (``kill -9`` included), so a crashed fleet never leaves a store locked.
While it holds the lock, the holder keeps its PID in the file (one decimal line), which is what
the refusal names; the file itself stays in place (removing it would let a second process lock a
new file of the same name while the first still holds the old one).

``flock`` locks belong to an *open file*, not to a process: a second store opened on the same
database **in the same process** is refused as well, since two stores of one file are two
fleets acting as the same VENs. On a network file system (NFS) Linux maps ``flock`` to POSIX
locks, which do not conflict within one process; keep a store on a local disk.
"""

from __future__ import annotations

import errno
import fcntl
import os
import weakref

from fleetven.exceptions import StoreError, StoreLocked

__all__ = ("FileLock",)


class FileLock:
    """An exclusive ``flock(2)`` on ``lock_path``, taken by :meth:`acquire`.

    :param lock_path: the lock file (created if missing, mode 0644 less the umask).
    :param store_path: the database it guards, for the messages.
    """

    __slots__ = ("lock_path", "store_path", "_fd", "_finalizer", "__weakref__")

    def __init__(self, lock_path: str, *, store_path: str) -> None:
        self.lock_path = lock_path
        self.store_path = store_path
        self._fd: int | None = None
        self._finalizer: weakref.finalize[[int], FileLock] | None = None

    @property
    def held(self) -> bool:
        """Whether this object holds the lock."""
        return self._fd is not None

    def acquire(self) -> None:
        """Take the lock without waiting and write this process's PID into the file.

        :raises StoreLocked: another open file holds it (another process, or another store of
            this process).
        :raises StoreError: the lock file cannot be created or locked.
        """
        if self._fd is not None:
            return
        try:
            fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise StoreError(f"cannot create the lock file {self.lock_path!r} of the store {self.store_path!r}: "
                             f"{exc.strerror or exc}", path=self.store_path) from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            pid = _read_pid(fd)
            os.close(fd)
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise StoreError(f"cannot lock {self.lock_path!r} for the store {self.store_path!r}: "
                                 f"{exc.strerror or exc}", path=self.store_path) from exc
            if pid == os.getpid():
                holder = f"this process (PID {pid}) already has it open in another SQLiteStore: close that one first"
            elif pid is not None:
                holder = f"it is in use by process {pid}"
            else:
                holder = "it is in use by another process"
            raise StoreLocked(f"the store {self.store_path!r} is locked ({self.lock_path!r}): {holder}; a SQLite store "
                              "serves one fleet at a time (several workers need a PostgreSQL store)",
                              path=self.store_path, lock_path=self.lock_path, pid=pid) from None
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
        except OSError as exc:
            os.close(fd)
            raise StoreError(f"cannot write to the lock file {self.lock_path!r}: {exc.strerror or exc}",
                             path=self.store_path) from exc
        self._fd = fd
        # A store dropped without close() releases its lock when it is collected, like its connection.
        self._finalizer = weakref.finalize(self, os.close, fd)

    def release(self) -> None:
        """Empty the file (no stale PID left behind) and release the lock. Idempotent."""
        fd, finalizer = self._fd, self._finalizer
        if fd is None or finalizer is None:
            return
        self._fd = self._finalizer = None
        try:
            os.ftruncate(fd, 0)
        except OSError:  # pragma: no cover - a file we hold open and wrote to can be truncated
            pass
        finalizer()  # closes the descriptor, which releases the flock


def _read_pid(fd: int) -> int | None:
    """The PID the holder wrote into the lock file, or ``None`` if it is not there (yet)."""
    try:
        text = os.pread(fd, 32, 0).decode("ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None
    return int(text) if text.isdigit() else None
