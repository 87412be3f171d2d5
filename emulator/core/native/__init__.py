"""The native paths: fastbus.c (the bus) and frames.c (exception entry and return), built
into one library with the system C compiler on first use.

``load_fastbus()`` compiles both sources (``cc -O2 -shared -fPIC``; another compiler
through ``C071EMU_CC``) into a cache directory keyed by the sources' hash -
``$XDG_CACHE_HOME/c071emu`` or ``~/.cache/c071emu``, never the package directory -
and loads it with ctypes.  A cache entry that does not load, or whose structure layouts
do not match the ctypes mirrors in ``bus.py`` and ``frames.py``, is rebuilt once.  Without a compiler,
or when the build fails, it returns ``None`` and a one-line reason: the machine then
serves every register access in Python, with the same run (``C071EMU_NATIVE=0`` asks
for that path).  How the native path keeps runs identical: ``bus.py``.
"""
from __future__ import annotations

import ctypes
import hashlib
import os
import subprocess
import tempfile
from pathlib import Path
from typing import Optional

SOURCES = tuple(Path(__file__).with_name(name) for name in ("fastbus.c", "frames.c"))
COMPILER_ENV = "C071EMU_CC"
DISABLE_ENV = "C071EMU_NATIVE"

_loaded: dict[tuple[str, str], tuple[Optional[ctypes.CDLL], str]] = {}


def cache_dir() -> Path:
    root = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(root) / "c071emu"


def compiler() -> str:
    return os.environ.get(COMPILER_ENV) or "cc"


def load_fastbus(cc: Optional[str] = None, directory: Optional[Path] = None) -> tuple[Optional[ctypes.CDLL], str]:
    """(library, "native") or (None, why the Python path is used).  Never raises."""
    if os.environ.get(DISABLE_ENV, "1") == "0":
        return None, f"python ({DISABLE_ENV}=0)"
    cc = cc or compiler()
    directory = directory or cache_dir()
    key = (cc, str(directory))
    if key not in _loaded:
        _loaded[key] = _build_and_load(cc, directory)
    return _loaded[key]


def cache_entry(cc: str, directory: Path) -> Path:
    """The cached library for this source and compiler."""
    digest = hashlib.sha256(b"\0".join([*(source.read_bytes() for source in SOURCES), cc.encode()])).hexdigest()[:20]
    return directory / f"fastbus-{digest}.so"


def _build_and_load(cc: str, directory: Path) -> tuple[Optional[ctypes.CDLL], str]:
    try:
        target = cache_entry(cc, directory)
    except OSError as exc:
        return None, f"python (native source unreadable: {exc.strerror or exc})"
    if target.exists():
        lib = _open(target)
        if lib is not None:
            return lib, "native"
    reason = _compile(cc, directory, target)
    if reason:
        return None, f"python ({reason})"
    lib = _open(target)
    if lib is None:
        return None, "python (the built native library does not load)"
    return lib, "native"


def _compile(cc: str, directory: Path, target: Path) -> str:
    """Build into a temporary file beside the target, then rename: a concurrent build or a
    crash never leaves a half-written library under the cached name."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(prefix="fastbus-", suffix=".so.tmp", dir=directory)
        os.close(fd)
    except OSError as exc:
        return f"cache directory {directory} not writable: {exc.strerror or exc}"
    try:
        done = subprocess.run([cc, "-O2", "-shared", "-fPIC", "-o", temporary, *map(str, SOURCES)],
                              capture_output=True, timeout=120)
        if done.returncode != 0:
            first = (done.stderr.decode(errors="replace").strip().splitlines() or ["no message"])[0]
            return f"{cc} failed: {first}"
        os.replace(temporary, target)
        return ""
    except FileNotFoundError:
        return f"no C compiler ({cc} not found)"
    except (OSError, subprocess.SubprocessError) as exc:
        return f"{cc} could not run: {exc}"
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)


def _open(path: Path) -> Optional[ctypes.CDLL]:
    from . import bus, frames
    try:
        lib = ctypes.CDLL(str(path))
        if not bus.layout_matches(lib) or not frames.layout_matches(lib):
            return None
    except (OSError, AttributeError):
        return None
    return lib
