"""Cheap checks of an audio file before it is decoded, without TensorFlow.

`check(path)` is the first step of every reader (`tfaudio.io.audio.load`, `tfaudio.inference.predict_file`,
the data-set scanners): missing, a folder, unreadable, empty, not an audio format, and for WAV the
RIFF chunk walk of `tfaudio.io.audio.decode_wav`, with the same one-line problems ("WAV file is
truncated: data chunk declares 88200 bytes, 1000 present"). A header that claims more data than the
file holds (e.g. 4 GB) is refused here, before anything is allocated.
"""
from __future__ import annotations

import contextlib
import os
import struct
import sys
import threading
from typing import Any, Iterator

from tfaudio.errors import AudioFileError

__all__ = ["check", "wav_problem", "format_problem", "decoder_problem", "quiet_stderr", "FORMATS", "MIN_RATE",
           "MAX_RATE", "MAX_CHANNELS"]

#: The one rule of what audio a header may declare, for every reader (files, data sets, streams): a sample
#: rate of 1 kHz to 1 MHz (1 Hz would make a 2-kB file hours long) and 1 to 255 channels.
MIN_RATE = 1000
MAX_RATE = 1_000_000
MAX_CHANNELS = 255


def format_problem(rate: int, channels: int) -> str | None:
    """What is implausible about a declared sample rate and channel count, or None."""
    if not MIN_RATE <= rate <= MAX_RATE:
        return f"implausible sample rate ({rate} Hz; expected {MIN_RATE} to {MAX_RATE})"
    if not 1 <= channels <= MAX_CHANNELS:
        return f"implausible channel count ({channels}; expected 1 to {MAX_CHANNELS})"
    return None


#: Leading bytes of the formats the decoders read (WAV in the graph; the others via soundfile/tfio).
FORMATS = {b"RIFF": "wav", b"fLaC": "flac", b"OggS": "ogg", b"ID3": "mp3", b"FORM": "aiff", b".snd": "au"}
_UNKNOWN_SIZE = 0xFFFFFFFF
_MAX_CHUNKS = 1 << 16


def decoder_problem(error: BaseException) -> str:
    """The one-line problem of a failed soundfile (libsndfile) open or read, the same for every reader."""
    reason = str(error).split(":")[-1].strip().rstrip(".") or type(error).__name__
    return f"not a recognised audio file or unsupported encoding ({reason})"


_STDERR_LOCK = threading.Lock()


@contextlib.contextmanager
def quiet_stderr() -> Iterator[None]:
    """Keep what C libraries print straight to file descriptor 2 (libmpg123's "[id3.c:...] error: ...")
    off stderr while decoding; the decoder's error still becomes one line. Not for use inside tf.data
    (threads): it swaps the process's fd 2."""
    with _STDERR_LOCK:
        try:
            sys.stderr.flush()
            saved = os.dup(2)
        except (OSError, ValueError):
            yield
            return
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, 2)
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            os.close(devnull)


def _kind(head: bytes) -> str | None:
    for magic, kind in FORMATS.items():
        if head.startswith(magic):
            return kind
    if len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0:  # an MPEG frame sync
        return "mp3"
    return None


def wav_problem(f, size: int) -> str | None:
    """What is wrong with the RIFF/WAVE structure of open file `f` of `size` bytes, or None."""
    f.seek(0)
    head = f.read(12)
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        return "not a WAV file (no RIFF/WAVE header)"
    pos, fmt, data = 12, None, None
    for _ in range(_MAX_CHUNKS):
        if pos + 8 > size or (fmt is not None and data is not None):
            break
        f.seek(pos)
        chunk_id, chunk_size = struct.unpack("<4sI", f.read(8))
        if chunk_id == b"fmt " and fmt is None:
            fmt = (pos + 8, chunk_size)
        elif chunk_id == b"data" and data is None:
            data = (pos + 8, chunk_size)
        pos += 8 + chunk_size + (chunk_size & 1)  # chunks are padded to even sizes
    hint = " (file truncated)" if pos > size else ""
    if fmt is None:
        return f"WAV file has no fmt chunk{hint}"
    if fmt[0] + min(fmt[1], 16) > size:
        return "WAV file is truncated inside its fmt chunk"
    f.seek(fmt[0])
    tag, channels, rate = struct.unpack("<HHI", f.read(8).ljust(8, b"\0"))  # zero-padded, as decode_wav reads
    if fmt[1] < 16 or channels < 1 or rate < 1:
        return f"WAV fmt chunk is invalid ({fmt[1]} bytes, {channels} channels, {rate} Hz)"
    problem = format_problem(rate, channels)
    if problem:
        return problem
    if data is None:
        return f"WAV file has no data chunk{hint}"
    available = max(size - data[0], 0)
    if data[1] != _UNKNOWN_SIZE and data[0] + data[1] > size:
        return f"WAV file is truncated: data chunk declares {data[1]} bytes, {available} present"
    if (available if data[1] == _UNKNOWN_SIZE else data[1]) == 0:
        return "contains no audio samples (zero length)"
    return None


def check(path: str | os.PathLike) -> str:
    """Check `path` before decoding; returns its format ("wav", "flac", "ogg", "mp3", "aiff", "au").

    Raises:
        AudioFileError: "path: problem" — missing, a folder, unreadable, empty, not audio, or a WAV
            whose chunks are malformed or truncated.
    """
    p = os.fspath(path)
    if not os.path.exists(p):
        raise AudioFileError(p, "file not found")
    if os.path.isdir(p):
        raise AudioFileError(p, "is a directory, not an audio file")
    try:
        with open(p, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size == 0:
                raise AudioFileError(p, "file is empty (0 bytes)")
            kind = _kind(f.read(4))
            if kind is None:
                raise AudioFileError(p, "not a recognised audio file (unknown format: expected WAV, FLAC, OGG or MP3)")
            problem = wav_problem(f, size) if kind == "wav" else None
    except OSError as e:
        raise AudioFileError(p, f"cannot read file ({(e.strerror or str(e)).lower()})") from None
    if problem:
        raise AudioFileError(p, problem)
    return kind


class SeekSafe:
    """A binary file object for soundfile whose `seek` never raises: libsndfile seeks before the start of
    some damaged files, and an exception there is printed by cffi as a traceback ("Exception ignored from
    cffi callback") instead of reaching the caller. An impossible seek goes to the end instead, so the
    decoder reads nothing and fails with its own error (one line, `decoder_problem`)."""

    def __init__(self, file: Any):
        self._file = file

    def seek(self, offset: int, whence: int = 0) -> int:
        try:
            return self._file.seek(offset, whence)
        except (ValueError, OSError, OverflowError):
            return self._file.seek(0, 2)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._file, name)

