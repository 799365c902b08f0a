"""Where the suite finds its data when it is not told: the current checkout first, then the source tree."""

from __future__ import annotations

import errno
import hashlib
import os
import stat
from pathlib import Path
from urllib.parse import unquote

_SOURCE_ROOT = Path(__file__).resolve().parent.parent


def matrices_dir() -> Path:
    here = Path.cwd() / "matrices"
    return here if here.is_dir() else _SOURCE_ROOT / "matrices"


def cassettes_dir() -> Path:
    return matrices_dir() / "cassettes"


def expectations_dir() -> Path:
    return matrices_dir() / "expectations"


# -- names from outside as file names ------------------------------------------------------------------

MAX_NAME_BYTES = 200  # under the common 255-byte limit, leaving room for a suffix and a temp prefix
_PLAIN = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-")
MANIFEST = "provider.json"  # a provider's manifest, beside its models' folders
CATALOG_DIR = "_catalog"  # the folder of a provider's catalog cassette
RESERVED = frozenset({MANIFEST, CATALOG_DIR})  # so no model's encoded name can be either


class UnsafeName(ValueError):
    """A name cannot be a file name; the message says which and why."""


def file_name(name: str) -> str:
    """A model, provider or probe id as one file name: reversible, and distinct ids never share one.

    Every byte outside `[A-Za-z0-9._-]` is percent-encoded (`%` included), so `org/model`,
    `org:model` and `org_model` stay three names and `decode_name` gives the id back. A leading dot
    and the names the suite reserves get their first character encoded too (no hidden files, no
    clash with `provider.json`). A name over MAX_NAME_BYTES keeps a readable head and a hash of the
    whole. Empty, `.` and `..` are refused.
    """
    if name in ("", ".", ".."):
        raise UnsafeName(f"{name!r} cannot name a file")
    pieces = [c if c in _PLAIN else "".join(f"%{b:02X}" for b in c.encode("utf-8")) for c in name]
    if pieces[0].startswith(".") or "".join(pieces) in RESERVED:
        pieces[0] = f"%{ord(pieces[0][0]):02X}{pieces[0][1:]}"
    encoded = "".join(pieces)
    if len(encoded) > MAX_NAME_BYTES:
        digest = hashlib.sha256(name.encode("utf-8")).hexdigest()[:16]
        head = ""
        for piece in pieces:  # whole characters only, so the head still decodes
            if len(head) + len(piece) > MAX_NAME_BYTES - len(digest) - 1:
                break
            head += piece
        encoded = f"{head}~{digest}"
    return encoded


def decode_name(encoded: str) -> str:
    """The id a `file_name` stands for (a hashed long name gives back only its head)."""
    return unquote(encoded)


def contained(root: Path, *names: str) -> Path:
    """root/names..., refusing any existing component that is a symlink leading out of root.

    Root is resolved only once a symlink is met: a replay asks for every cell's cassette, and resolving
    is a system call per component."""
    path = root.joinpath(*names)
    probe = root
    for name in names:
        probe = probe / name
        if probe.is_symlink() and not probe.resolve().is_relative_to(root.resolve()):
            raise UnsafeName(f"{probe} is a symlink out of {root}; refusing to follow it")
    return path


def refuse_links_out(root: Path) -> None:
    """UnsafeName when a symlink under root leads out of it (or nowhere): a run and a report write many files
    under their folder (results, pages, evidence, snapshots), and each would follow such a link. Checked once,
    before the first write; links that stay inside are kept."""
    if not root.is_dir():
        return
    base = root.resolve()
    for folder, dirs, files in os.walk(root):
        for name in (*dirs, *files):
            path = Path(folder, name)
            if path.is_symlink() and not path.resolve().is_relative_to(base):
                raise UnsafeName(f"{path} is a symlink out of {root}; refusing to write through it")


def safe_name(name: str) -> str:
    """A readable slug (a provider named after its host); file names themselves come from `file_name`."""
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name) or "_"


# -- local files read whole ----------------------------------------------------------------------------

SMALL_FILE_BYTES = 16 * 1024 * 1024  # a profile, expectations, a manifest, a run's state: kilobytes in practice
DATA_FILE_BYTES = 4 * 1024**3  # results and matrices: a 10,000-model catalog's stays well under


def local_text(path: Path, cap: int = SMALL_FILE_BYTES) -> str:
    """A local file's UTF-8 text, read only if it is a regular file of at most `cap` bytes.

    A FIFO or a device named as a profile, baseline or results file would block the read, or never end it
    (`/dev/zero`), and a sparse file would fill memory: each is an OSError whose strerror says why, so every
    caller's one-line error for an unreadable file says it too. Opened non-blocking, so a FIFO with no writer
    is refused rather than waited on; the read stops at `cap`, so a file growing meanwhile is refused too.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise OSError(errno.EINVAL, "not a regular file (a FIFO, a device or a folder); not read")
        data = handle.read(cap + 1) if info.st_size <= cap else b""
    if max(len(data), info.st_size) > cap:
        raise OSError(
            errno.EFBIG, f"{max(len(data), info.st_size)} bytes, more than such a file holds ({cap}); not read"
        )
    return data.decode("utf-8")
