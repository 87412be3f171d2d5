"""Command-line values checked where they enter: each type returns the value or refuses it with
a one-line reason (argparse prints it as ``c071emu: argument --X: reason`` and exits 2).

Ranges and their sources:
- simulated seconds: finite and positive, at most ``MAX_SECONDS`` (a day of simulated time is
  far beyond any boot path; larger values only overflow the picosecond clock);
- TCP ports: 0..65535 (0 lets the system pick a free one);
- HSE: 4-48 MHz, the crystal/oscillator range of the STM32C071 datasheet (DS14533, HSE
  oscillator characteristics);
- output files: their folder must exist and be writable, checked before the run so that a
  long run never ends by losing its result.
"""
from __future__ import annotations

import argparse
import math
import os
from pathlib import Path

MAX_SECONDS = 86_400.0
HSE_MIN_HZ, HSE_MAX_HZ = 4_000_000, 48_000_000


def _number(text: str, kind, what: str):
    try:
        return kind(text)
    except (ValueError, OverflowError):
        raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None


def seconds(text: str) -> float:
    value = _number(text, float, "a number of seconds")
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r}: a time must be a positive number of seconds")
    if value > MAX_SECONDS:
        raise argparse.ArgumentTypeError(f"{text!r}: at most {MAX_SECONDS:g} s of simulated time")
    return value


def tcp_port(text: str) -> int:
    value = _number(text, int, "a TCP port number")
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{value}: a TCP port is 0..65535 (0 picks a free one)")
    return value


def hse_hz(text: str) -> int:
    value = _number(text, lambda t: int(float(t)) if "e" in t.lower() else int(t, 0), "a frequency in Hz")
    if not HSE_MIN_HZ <= value <= HSE_MAX_HZ:
        raise argparse.ArgumentTypeError(f"{value} Hz: the C071's HSE runs at 4-48 MHz (4000000..48000000)")
    return value


def positive_int(text: str) -> int:
    value = _number(text, int, "a whole number")
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value}: must be 1 or more")
    return value


def output_file(text: str) -> str:
    """A file the run will write: refused now if it never could be."""
    try:
        return _writable(text)
    except (OSError, ValueError) as exc:            # a name too long, a NUL byte in it
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise argparse.ArgumentTypeError(f"{_shown(text)}: cannot be written ({reason.lower()})") from None


def _shown(text: str) -> str:
    """A path as a message shows it: printable, at most 80 characters."""
    text = text if text.isprintable() else repr(text)
    return text if len(text) <= 80 else text[:77] + "..."


def _writable(text: str) -> str:
    path = Path(text)
    if not text:
        raise argparse.ArgumentTypeError("an empty name is not a file")
    if path.is_dir() or text.endswith(os.sep):
        raise argparse.ArgumentTypeError(f"{_shown(text)}: is a folder, not a file")
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise argparse.ArgumentTypeError(f"{_shown(text)}: folder {_shown(str(folder))} does not exist")
    if not os.access(folder, os.W_OK) or path.exists() and not os.access(path, os.W_OK):
        raise argparse.ArgumentTypeError(f"{_shown(text)}: cannot be written (permission denied)")
    return text


class OneLineParser(argparse.ArgumentParser):
    """argparse with errors in one line, ``c071emu: ...``, and exit status 2 (usage via --help)."""

    def error(self, message: str):
        message = "".join(c if c.isprintable() else repr(c)[1:-1] for c in message)    # one line, always
        self.exit(2, f"c071emu: {self.prog.split()[-1] + ': ' if ' ' in self.prog else ''}{message}"
                     f" (see {self.prog} --help)\n")
