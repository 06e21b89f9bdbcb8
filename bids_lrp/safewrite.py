"""Writing files so that no reader ever sees half of one, and no failure leaves half a set.

One mechanism, three scales:

- a file: `atomic_write_bytes` (and its text, JSON and copy forms) writes a temporary file in
  the destination folder, flushes and fsyncs it, then ``os.replace``-s it onto its name;
- a set of files in one folder: `StagedOutputs` writes them into a hidden folder beside their
  destination and moves them into place together (a checkpoint and its card; everything one
  ``bids_lrp-train`` run writes);
- a whole folder: `replaced_contents` yields a hidden folder to write a tree into, then swaps
  it for the folder's old contents (a simulated dataset), one named file last.

Leaving a block by an exception (a full disk, Ctrl-C) removes what it wrote and the folders
it created, and leaves what was there before untouched. `writable_folder` and `writing_into`
turn the `OSError` of a folder that cannot be written into a one-line `WriteError` (exit 73).
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO

from bids_lrp.exitcodes import EX_CANTCREAT, CommandError

__all__ = [
    "StagedOutputs",
    "WriteError",
    "atomic_copy",
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_text",
    "check_writable",
    "make_folders",
    "remove_if_empty",
    "remove_stale_temporaries",
    "replaced_contents",
    "writable_folder",
    "writing_into",
]

#: Suffix of the temporary file an atomic write renames into place (``.<name>.<random>.tmp``).
_TEMPORARY_SUFFIX = ".tmp"


class WriteError(CommandError):
    """Files cannot be written where they must go (exit 73, sysexits EX_CANTCREAT)."""

    def __init__(self, message: str, code: int = EX_CANTCREAT) -> None:
        super().__init__(message, code)


def _atomic(path: Path, write: Callable[[BinaryIO], Any]) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=_TEMPORARY_SUFFIX, dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes 0600 files; outputs are for others to read
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (temporary file in the same folder, then rename)."""
    return _atomic(Path(path), lambda handle: handle.write(data))


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write UTF-8 ``text`` to ``path`` atomically."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | Path, data: Any) -> Path:
    """Write ``data`` as sorted, indented JSON atomically (same data -> same bytes)."""
    return atomic_write_text(path, json.dumps(data, indent=2, sort_keys=True) + "\n")


def atomic_copy(src: str | Path, dst: str | Path) -> Path:
    """Copy ``src`` onto ``dst`` atomically."""
    with open(src, "rb") as source:
        return _atomic(Path(dst), lambda handle: shutil.copyfileobj(source, handle))


def remove_stale_temporaries(folder: str | Path) -> list[Path]:
    """Delete the temporary files of atomic writes that a killed run left under ``folder``.

    Only for folders no other job writes into at the same time (one participant's outputs).
    """
    folder = Path(folder)
    if not folder.is_dir():
        return []
    stale = [p for p in folder.rglob(f".*{_TEMPORARY_SUFFIX}") if p.is_file()]
    for path in stale:
        path.unlink(missing_ok=True)
    return stale


def make_folders(folder: Path) -> list[Path]:
    """``mkdir -p folder``; return the folders it created, outermost first.

    Hand the list to `remove_if_empty` to take back what a failed run created (and nothing that
    was there before). If the creation itself fails, what it made is removed before raising.
    """
    missing = []
    parent = Path(folder)
    while not parent.exists() and parent != parent.parent:
        missing.append(parent)
        parent = parent.parent
    missing.reverse()
    try:
        Path(folder).mkdir(parents=True, exist_ok=True)
    except OSError:
        remove_if_empty(missing)
        raise
    return missing


def check_writable(folder: Path) -> None:
    """Create and delete a file in ``folder``; the `OSError` (permissions, a read-only or full
    file system) says why files cannot be written there."""
    fd, probe = tempfile.mkstemp(prefix=".write-check.", suffix=_TEMPORARY_SUFFIX, dir=folder)
    os.close(fd)
    os.unlink(probe)


def remove_if_empty(folders: Sequence[Path]) -> None:
    """Remove those of ``folders`` (outermost first, as `make_folders` lists them) that are
    empty, innermost first."""
    for folder in reversed(folders):
        try:
            folder.rmdir()
        except OSError:  # not empty (another job writes there) or gone
            pass


#: Errors of a write refused (not of a failing disk): the user can fix them.
_REFUSED = frozenset({errno.EACCES, errno.EPERM, errno.EROFS})


def _refused(folder: Path, err: OSError) -> WriteError:
    return WriteError(
        f"cannot write in {folder}: {err.strerror} (check its owner and permissions, e.g. a "
        "folder a container created as root)"
    )


def writable_folder(folder: Path) -> Path:
    """Create ``folder`` and prove a file can be written there, before any work.

    Raises
    ------
    WriteError
        When it cannot be created or written (permissions, a read-only or full file system).
    """
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise WriteError(f"cannot create {folder}: {err.strerror}") from None
    try:
        check_writable(folder)
    except OSError as err:
        raise _refused(folder, err) from None
    return folder


@contextmanager
def writing_into(folder: Path, *, every_error: bool = False) -> Iterator[None]:
    """Turn a write refused inside the block into a one-line `WriteError`.

    By default only refusals (permissions, a read-only file system) are translated and a
    failing disk propagates as the `OSError` it is; with ``every_error`` any `OSError` (a full
    disk, a lost mount) becomes a `WriteError` that says nothing was written, for a block
    whose outputs are staged (`StagedOutputs`).
    """
    try:
        yield
    except OSError as err:
        if every_error:
            reason = err.strerror or str(err) or type(err).__name__
            raise WriteError(
                f"cannot write the outputs into {folder}: {reason}; nothing was written"
            ) from None
        if err.errno not in _REFUSED:
            raise
        raise _refused(Path(err.filename).parent if err.filename else folder, err) from None


class StagedOutputs:
    """Files written into a hidden folder beside their destination, then moved there together.

    Use as a context manager: write every file to `path` of its destination, then call
    `publish`. Leaving the block without publishing (an error such as a full disk, an
    interrupt) deletes what was written and the folders this created, and leaves earlier files
    at the destinations untouched: a set of outputs appears whole or not at all.

    Parameters
    ----------
    folder : str or Path
        Where the files go (created if missing).

    Raises
    ------
    OSError
        When ``folder`` or the staging folder inside it cannot be created.
    """

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        self._targets: list[Path] = []
        self._published = False
        self._created = make_folders(self.folder)
        try:
            self._stage = Path(tempfile.mkdtemp(prefix=".staged.", suffix=".tmp", dir=folder))
        except BaseException:
            remove_if_empty(self._created)
            raise

    def path(self, target: str | Path) -> Path:
        """Where to write ``target`` (a file in ``folder``) until `publish`."""
        target = Path(target)
        if target.parent.resolve() != self.folder.resolve():
            raise ValueError(f"{target} is not in {self.folder}")
        if target.name in {t.name for t in self._targets}:
            raise ValueError(f"{target.name} is staged twice")
        self._targets.append(target)
        return self._stage / target.name

    def publish(self) -> list[Path]:
        """Move every staged file to its destination, in the order they were staged."""
        placed: list[Path] = []
        try:
            for target in self._targets:
                os.replace(self._stage / target.name, target)
                placed.append(target)
        except BaseException:
            for target in placed:  # all or nothing: take back what was already moved
                target.unlink(missing_ok=True)
            raise
        self._published = True
        return placed

    def __enter__(self) -> StagedOutputs:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        shutil.rmtree(self._stage, ignore_errors=True)
        if not self._published:
            remove_if_empty(self._created)


def _swap(folder: Path, staging: Path, trash: Path, last: str) -> None:
    """Replace the contents of ``folder`` by those of ``staging``; ``last`` arrives last."""
    trash.mkdir()
    old = [p for p in folder.iterdir() if p not in (staging, trash)]
    # The old ``last`` leaves first, the new one arrives last: a half-moved folder has none.
    for path in sorted(old, key=lambda p: p.name != last):
        path.rename(trash / path.name)
    for path in sorted(staging.iterdir(), key=lambda p: p.name == last):
        path.rename(folder / path.name)
    staging.rmdir()
    shutil.rmtree(trash, ignore_errors=True)


@contextmanager
def replaced_contents(folder: Path, *, prefix: str, last: str) -> Iterator[Path]:
    """Yield a hidden folder to write a tree into; on success it becomes ``folder``'s contents.

    The earlier contents are removed once the new tree is complete, with the file ``last``
    (e.g. ``dataset_description.json``) leaving first and arriving last, so a folder holding it
    is complete. The working folders are ``folder/<prefix>partial-<tag>`` and ``<prefix>old-``;
    only a run killed with SIGKILL leaves them behind. If the block raises
    (``KeyboardInterrupt`` included), everything written is removed, with ``folder`` and its
    parents if this made them, and the exception propagates.
    """
    tag = uuid.uuid4().hex[:8]
    staging = folder / f"{prefix}partial-{tag}"
    trash = folder / f"{prefix}old-{tag}"
    made: list[Path] = []
    try:
        made = make_folders(folder)
        staging.mkdir()
        yield staging
        _swap(folder, staging, trash, last)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        shutil.rmtree(trash, ignore_errors=True)
        remove_if_empty(made)
        raise
