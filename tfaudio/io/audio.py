"""Audio input for TensorFlow: in-graph WAV decoding and resampling, `load` with clear errors.

Everything here works inside `tf.data.Dataset.map` and `tf.function`:

* `decode_wav` parses RIFF/WAVE bytes with TensorFlow ops only (PCM 8/16/24/32-bit,
  IEEE float 32/64-bit, WAVE_FORMAT_EXTENSIBLE), scaled exactly as soundfile does.
* `resample` is a windowed-sinc polyphase resampler whose filter is fitted to
  soxr's "HQ" response, so it matches ``librosa.resample`` (default ``soxr_hq``);
  the input rate may be a tensor known only at run time; `StreamResampler` does the same block by block.
* `decode_audio` / `read_audio` dispatch on the file's magic bytes: WAV in-graph;
  FLAC, Ogg Vorbis and MP3 through tensorflow-io's ops when they load, otherwise
  (and for any other format) through soundfile in a `tf.numpy_function`.
* `load` is ``librosa.load`` on top of these, raising `AudioFileError` with one line.

Shapes follow librosa: mono audio is `(samples,)`, multichannel `(channels, samples)`.
"""
from __future__ import annotations

import functools
import io
import logging
import os
import re
from typing import Any, Union

import numpy as np
import tensorflow as tf

from tfaudio.errors import AudioFileError
from tfaudio.io.headers import MAX_RATE, MIN_RATE  # sample rates a file may declare: the one rule (format_problem)
from tfaudio.io.resample import resample
from tfaudio.io import headers
from tfaudio.io.headers import decoder_problem

log = logging.getLogger(__name__)

__all__ = ["decode_wav", "decode_audio", "read_audio", "load", "info", "has_tfio"]

PathLike = Union[str, os.PathLike]
TensorLike = Union[tf.Tensor, np.ndarray, bytes, str]


_WAVE_FORMAT_PCM = 1
_WAVE_FORMAT_IEEE_FLOAT = 3
_WAVE_FORMAT_EXTENSIBLE = 0xFFFE
_UNKNOWN_SIZE = 0xFFFFFFFF


# ----------------------------------------------------------------------------- WAV


def _bytes_at(contents: tf.Tensor, size: tf.Tensor, pos: tf.Tensor, n: int) -> tf.Tensor:
    """`n` bytes of `contents` from `pos` as int64 `(n,)`, zero-padded past the end (never fails)."""
    pos = tf.clip_by_value(tf.cast(pos, tf.int64), 0, size)
    raw = tf.io.decode_raw(tf.strings.substr(contents, pos, tf.constant(n, tf.int64)), tf.uint8)
    raw = tf.pad(raw, [[0, n - tf.shape(raw)[0]]])
    return tf.reshape(tf.cast(raw, tf.int64), [n])


def _le(b: tf.Tensor) -> tf.Tensor:
    """Little-endian unsigned integer from int64 bytes `(n,)`."""
    shifts = tf.constant([8 * i for i in range(b.shape[0])], tf.int64)
    return tf.reduce_sum(tf.bitwise.left_shift(b, shifts))


def _first_failure(checks: list[tuple[tf.Tensor, Any]]) -> tuple[tf.Tensor, tf.Tensor]:
    """(ok, message of the first failing check) from `[(failed, message), ...]`."""
    message = tf.constant("")
    for failed, text in reversed(checks):
        message = tf.where(failed, text, message)
    ok = tf.logical_not(tf.reduce_any(tf.stack([failed for failed, _ in checks])))
    return ok, message


def _parse_wav(contents: tf.Tensor, size: tf.Tensor) -> dict[str, tf.Tensor]:
    """Walk the RIFF chunks: fmt fields, data position/length, and what is wrong if anything."""
    i64 = functools.partial(tf.constant, dtype=tf.int64)
    is_riff = tf.equal(tf.strings.substr(contents, 0, 4), "RIFF")
    is_wave = (size >= 12) & is_riff & tf.equal(
        tf.strings.substr(contents, tf.minimum(i64(8), size), i64(4)), "WAVE")

    def cond(pos, fmt_pos, fmt_size, data_pos, data_size):
        return is_wave & (pos + 8 <= size) & ((fmt_pos < 0) | (data_pos < 0))

    def body(pos, fmt_pos, fmt_size, data_pos, data_size):
        chunk_id = tf.strings.substr(contents, pos, i64(4))
        chunk_size = _le(_bytes_at(contents, size, pos + 4, 4))
        new_fmt = tf.equal(chunk_id, "fmt ") & (fmt_pos < 0)
        new_data = tf.equal(chunk_id, "data") & (data_pos < 0)
        return (pos + 8 + chunk_size + chunk_size % 2,  # chunks are padded to even sizes
                tf.where(new_fmt, pos + 8, fmt_pos), tf.where(new_fmt, chunk_size, fmt_size),
                tf.where(new_data, pos + 8, data_pos), tf.where(new_data, chunk_size, data_size))

    pos, fmt_pos, fmt_size, data_pos, data_size = tf.while_loop(
        cond, body, (i64(12), i64(-1), i64(0), i64(-1), i64(0)), maximum_iterations=1 << 16)
    fmt = _bytes_at(contents, size, fmt_pos, 40)
    tag = _le(fmt[0:2])
    channels = _le(fmt[2:4])
    rate = _le(fmt[4:8])
    bits = _le(fmt[14:16])
    tag = tf.where((tag == _WAVE_FORMAT_EXTENSIBLE) & (fmt_size >= 40), _le(fmt[24:26]), tag)

    bits_in = lambda *allowed: tf.reduce_any(tf.equal(bits, i64(list(allowed))))  # noqa: E731
    supported = (((tag == _WAVE_FORMAT_PCM) & bits_in(8, 16, 24, 32))
                 | ((tag == _WAVE_FORMAT_IEEE_FLOAT) & bits_in(32, 64)))
    walk_truncated = pos > size  # the last chunk header read claims bytes past the end
    unknown_size = data_size == _UNKNOWN_SIZE  # streamed WAV: data runs to the end
    available = tf.maximum(size - data_pos, 0)
    data_size = tf.where(unknown_size, available, data_size)
    no_fmt = fmt_pos < 0
    fmt_truncated = ~no_fmt & (fmt_pos + tf.minimum(fmt_size, 16) > size)
    fmt_invalid = ~no_fmt & ~fmt_truncated & ((fmt_size < 16) | (channels < 1) | (rate < 1))
    header_ok = is_wave & ~no_fmt & ~fmt_truncated & ~fmt_invalid
    no_data = data_pos < 0
    data_truncated = ~no_data & (data_pos + data_size > size)
    truncated_hint = tf.where(walk_truncated, " (file truncated)", "")
    ok, problem = _first_failure([
        (~is_wave, "not a WAV file (no RIFF/WAVE header)"),
        (no_fmt, tf.strings.join(["WAV file has no fmt chunk", truncated_hint])),
        (fmt_truncated, "WAV file is truncated inside its fmt chunk"),
        (fmt_invalid, tf.strings.format("WAV fmt chunk is invalid ({} bytes, {} channels, {} Hz)",
                                        (fmt_size, channels, rate))),
        (~supported, tf.strings.format("unsupported WAV encoding (format tag {}, {} bits per sample)",
                                       (tag, bits))),
        (no_data, tf.strings.join(["WAV file has no data chunk", truncated_hint])),
        (data_truncated, tf.strings.format("WAV file is truncated: data chunk declares {} bytes, {} present",
                                           (data_size, available))),
    ])
    # Decoder: 0 uint8, 1 int16, 2 int24, 3 int32, 4 float32, 5 float64. Even for a bad header the
    # decode below cannot fail (whole frames of bytes that exist), so the one assertion reports it.
    code = tf.where(tag == _WAVE_FORMAT_IEEE_FLOAT, tf.where(bits == 64, i64(5), i64(4)), bits // 8 - 1)
    code = tf.clip_by_value(code, 0, 5)
    channels = tf.clip_by_value(channels, 1, 1 << 16)
    frame_bytes = channels * tf.gather(i64([1, 2, 3, 4, 4, 8]), code)
    usable = tf.maximum(tf.minimum(data_size, available), 0)
    return dict(ok=ok, problem=problem, is_riff=is_riff, unsupported=header_ok & ~supported,
                channels=channels, rate=rate, code=code, data_pos=tf.minimum(tf.maximum(data_pos, 0), size),
                data_bytes=usable - usable % frame_bytes)


def _pcm24(raw: tf.Tensor) -> tf.Tensor:
    b = tf.cast(tf.reshape(tf.io.decode_raw(raw, tf.uint8), [-1, 3]), tf.int32)
    v = b[:, 0] + b[:, 1] * 256 + b[:, 2] * 65536
    v = tf.where(v >= 1 << 23, v - (1 << 24), v)
    return tf.cast(v, tf.float32) * (1.0 / (1 << 23))


def _decode_wav_data(contents: tf.Tensor, h: dict[str, tf.Tensor]) -> tuple[tf.Tensor, tf.Tensor]:
    raw = tf.strings.substr(contents, h["data_pos"], h["data_bytes"])
    branches = [
        lambda: (tf.cast(tf.io.decode_raw(raw, tf.uint8), tf.float32) - 128.0) * (1.0 / 128),
        lambda: tf.cast(tf.io.decode_raw(raw, tf.int16), tf.float32) * (1.0 / (1 << 15)),
        lambda: _pcm24(raw),
        lambda: tf.cast(tf.io.decode_raw(raw, tf.int32), tf.float32) * (1.0 / (1 << 31)),
        lambda: tf.io.decode_raw(raw, tf.float32),
        lambda: tf.cast(tf.io.decode_raw(raw, tf.float64), tf.float32),
    ]
    samples = tf.switch_case(tf.cast(h["code"], tf.int32), branches)
    audio = tf.reshape(samples, tf.stack([-1, tf.cast(h["channels"], tf.int32)]))
    return audio, tf.cast(h["rate"], tf.int32)


def _assert(ok: tf.Tensor, problem: tf.Tensor, path: tf.Tensor | None = None) -> tf.Operation | None:
    """tf.debugging.Assert whose only data is one line: "path: problem" (or the problem)."""
    message = problem if path is None else tf.strings.join([path, ": ", problem])
    return tf.debugging.Assert(ok, [message], summarize=1)


def decode_wav(contents: TensorLike, path: TensorLike | None = None) -> tuple[tf.Tensor, tf.Tensor]:
    """Decode RIFF/WAVE bytes in-graph.

    Args:
        contents: scalar string tensor, the whole file.
        path: optional scalar string used in error messages.
    Returns:
        audio float32 `(samples, channels)`, sample_rate int32 scalar.
    Raises:
        tf.errors.InvalidArgumentError: not a WAV file, no fmt/data chunk, truncated data,
            unsupported encoding (anything but PCM 8/16/24/32-bit and float 32/64-bit).
    """
    with tf.name_scope("decode_wav"):
        contents = tf.convert_to_tensor(contents, tf.string)
        path = None if path is None else tf.convert_to_tensor(path, tf.string)
        size = tf.cast(tf.strings.length(contents), tf.int64)
        h = _parse_wav(contents, size)
        check = _assert(h["ok"], h["problem"], path)
        with tf.control_dependencies([check] if check is not None else []):
            audio, rate = _decode_wav_data(contents, h)
        audio.set_shape([None, None])
        return audio, rate


# ------------------------------------------------------------------ other formats


def _sf_decode(data: Any) -> tuple[np.ndarray, np.int32, bytes]:
    """soundfile decode of bytes -> (float32 (frames, channels), rate, error message or b"")."""
    import soundfile as sf  # lazy: decoding only where files are read

    if isinstance(data, np.ndarray):
        data = data.item()
    try:
        from tfaudio.io.headers import SeekSafe

        y, rate = sf.read(SeekSafe(io.BytesIO(data)), dtype="float32", always_2d=True)
    except Exception as e:  # noqa: BLE001 - any decoder failure becomes one clear line

        return np.zeros((0, 1), np.float32), np.int32(0), decoder_problem(e).encode()
    return np.ascontiguousarray(y, np.float32), np.int32(rate), b""


def _decode_soundfile(contents: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor]:
    """(audio `(samples, channels)`, rate, ok, problem) via soundfile in a numpy_function."""
    audio, rate, problem = tf.numpy_function(_sf_decode, [contents], [tf.float32, tf.int32, tf.string],
                                             stateful=False, name="soundfile_decode")
    audio.set_shape([None, None])
    rate.set_shape([])
    problem.set_shape([])
    return audio, rate, tf.equal(problem, ""), problem


def _mp3_rate(contents: tf.Tensor, size: tf.Tensor) -> tf.Tensor:
    """Sample rate from the first MPEG audio frame header (after an ID3v2 tag), int32; 0 if none."""
    head = _bytes_at(contents, size, tf.constant(0, tf.int64), 10)
    syncsafe = (head[6] * (1 << 21) + head[7] * (1 << 14) + head[8] * (1 << 7) + head[9])
    id3 = tf.equal(tf.strings.substr(contents, 0, 3), "ID3")
    zero = tf.constant(0, tf.int64)
    start = tf.where(id3, syncsafe + 10 + tf.where(head[5] & 0x10 > 0, zero + 10, zero), zero)
    n = 8192
    b = _bytes_at(contents, size, start, n)
    b0, b1, b2 = b[:-2], b[1:-1], b[2:]
    version = tf.bitwise.right_shift(b1, 3) & 3
    layer = tf.bitwise.right_shift(b1, 1) & 3
    sr_index = tf.bitwise.right_shift(b2, 2) & 3
    bitrate = tf.bitwise.right_shift(b2, 4)
    valid = ((b0 == 0xFF) & (b1 & 0xE0 == 0xE0) & (version != 1) & (layer != 0)
             & (sr_index != 3) & (bitrate != 15))
    i = tf.argmax(tf.cast(valid, tf.int32))
    table = tf.constant([[11025, 12000, 8000], [0, 0, 0], [22050, 24000, 16000], [44100, 48000, 32000]],
                        tf.int32)
    rate = tf.gather_nd(table, tf.stack([version[i], tf.minimum(sr_index[i], 2)]))
    return tf.where(valid[i], rate, 0)


def _decode_tfio(contents: tf.Tensor, size: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor]:
    """FLAC / Ogg Vorbis / MP3 through tensorflow-io's native ops; anything else via soundfile."""
    import tensorflow_io as tfio  # lazy: optional: tensorflow-io formats only

    i64 = functools.partial(tf.constant, dtype=tf.int64)
    head = _bytes_at(contents, size, i64(0), 64)
    magic = tf.strings.substr(contents, 0, 4)
    # FLAC: STREAMINFO is the first metadata block (bytes 8..41).
    flac_rate = tf.cast(head[18] * 4096 + head[19] * 16 + tf.bitwise.right_shift(head[20], 4), tf.int32)
    flac_bits = (head[20] & 1) * 16 + tf.bitwise.right_shift(head[21], 4) + 1
    is_flac = (tf.equal(magic, "fLaC") & (head[4] & 0x7F == 0)
               & tf.reduce_any(tf.equal(flac_bits, i64([8, 16, 24]))))
    # Ogg: first packet starts after the 27-byte page header and its segment table.
    packet = tf.minimum(27 + head[26], size)
    is_vorbis = tf.equal(magic, "OggS") & tf.equal(tf.strings.substr(contents, packet, i64(7)), "\x01vorbis")
    vorbis_rate = tf.cast(_le(_bytes_at(contents, size, packet + 12, 4)), tf.int32)
    sync = (head[0] == 0xFF) & (head[1] & 0xE0 == 0xE0) & (head[1] & 0x06 != 0)  # layer 0: ADTS AAC
    is_mp3 = tf.equal(tf.strings.substr(contents, 0, 3), "ID3") | sync
    index = tf.where(is_flac, 0, tf.where(is_vorbis, 1, tf.where(is_mp3, 2, 3)))

    def flac():
        def as_float(dtype, offset, scale):
            def decode():
                return (tf.cast(tfio.audio.decode_flac(contents, dtype=dtype), tf.float32) - offset) * scale
            return decode
        audio = tf.switch_case(tf.cast(flac_bits // 8 - 1, tf.int32), [
            as_float(tf.uint8, 128.0, 1.0 / 128),
            as_float(tf.int16, 0.0, 1.0 / (1 << 15)),
            as_float(tf.int32, 0.0, 1.0 / (1 << 31)),  # tfio left-aligns 24-bit samples in int32
        ])
        return audio, flac_rate, tf.constant(True), tf.constant("")

    def vorbis():
        return tfio.audio.decode_vorbis(contents), vorbis_rate, tf.constant(True), tf.constant("")

    def mp3():
        rate = _mp3_rate(contents, size)
        return tfio.audio.decode_mp3(contents), rate, rate > 0, tf.constant("no MPEG audio frame found")

    audio, rate, ok, problem = tf.switch_case(tf.cast(index, tf.int32),
                                              [flac, vorbis, mp3, lambda: _decode_soundfile(contents)])
    audio.set_shape([None, None])
    return audio, rate, ok, problem


@functools.lru_cache(maxsize=1)
def has_tfio() -> bool:
    """Whether tensorflow-io is installed and its native audio ops load and decode (cached)."""
    try:
        import tensorflow_io as tfio  # lazy: optional: tensorflow-io formats only
    except Exception as e:  # noqa: BLE001 - ImportError, or its .so failing at import
        log.debug("tensorflow-io not available: %s", e)
        return False
    try:
        import soundfile as sf  # lazy: decoding only where files are read

        buf = io.BytesIO()
        sf.write(buf, np.zeros((64, 1), np.int16), 8000, format="FLAC", subtype="PCM_16")
        with tf.init_scope():  # run the probe eagerly even when asked while tracing a graph
            out = tfio.audio.decode_flac(tf.constant(buf.getvalue()), dtype=tf.int16)
            ok = tuple(out.numpy().shape) == (64, 1)
    except Exception as e:  # noqa: BLE001 - NotImplementedError / NotFoundError when the .so fails to load
        reason = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
        log.info("tensorflow-io is installed but its audio ops do not work here (%s); "
                 "FLAC/OGG/MP3 are decoded with soundfile", reason)
        return False
    return ok


# ---------------------------------------------------------------- decode / read


def _decode_report(contents: tf.Tensor, sr: int | tf.Tensor | None, mono: bool,
                   check_finite: bool) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor]:
    """decode_audio without raising: (audio, rate, ok, problem); audio is garbage when not ok."""
    size = tf.cast(tf.strings.length(contents), tf.int64)
    h = _parse_wav(contents, size)
    use_wav = h["is_riff"] & ~h["unsupported"]  # WAV encodings we do not decode go to soundfile

    def wav():
        return (*_decode_wav_data(contents, h), h["ok"], h["problem"])

    def other():
        return _decode_tfio(contents, size) if has_tfio() else _decode_soundfile(contents)

    # The decoders do not fail on bad input (tfio's ops aside): they report (ok, problem).
    audio, rate, ok, problem = tf.cond(use_wav, wav, other)
    audio.set_shape([None, None])
    # A header's rate outside MIN_RATE..MAX_RATE (a 32-bit field: up to 4 GHz; 1 Hz would make a 2-kB file
    # resample to 22 M samples) is refused rather than trusted.
    rate64 = tf.where(use_wav, h["rate"], tf.cast(rate, tf.int64))
    plausible = (rate64 >= MIN_RATE) & (rate64 <= MAX_RATE)
    problem = tf.where(ok & ~plausible, tf.strings.format(
        "implausible sample rate ({} Hz; expected " + f"{MIN_RATE} to {MAX_RATE})", rate64), problem)
    ok = ok & plausible
    problem = tf.where(size > 0, problem, "file is empty (0 bytes)")
    ok = ok & (size > 0)
    if check_finite:
        finite = tf.reduce_all(tf.math.is_finite(audio))
        problem = tf.where(ok & ~finite, "audio contains NaN or Inf samples", problem)
        ok = ok & finite
    audio = tf.transpose(audio)  # (channels, samples)
    if mono:
        audio = tf.reduce_mean(audio, axis=0)
    if sr is not None:
        target = tf.cast(sr, tf.int32)
        audio = resample(audio, tf.where(ok & (rate > 0), rate, target), target)
        rate = target
    return audio, rate, ok, problem


def decode_audio(contents: TensorLike, sr: int | tf.Tensor | None = None, mono: bool = True,
                 path: TensorLike | None = None, check_finite: bool = False) -> tuple[tf.Tensor, tf.Tensor]:
    """Decode an audio file's bytes in-graph (WAV natively; FLAC/OGG/MP3/... see module doc).

    Args:
        contents: scalar string tensor, the whole file.
        sr: resample to this rate; None keeps the file's rate.
        mono: average the channels.
        path: optional scalar string used in error messages.
        check_finite: also fail on NaN/Inf samples.
    Returns:
        audio float32 `(samples,)` if mono else `(channels, samples)`; sample rate int32.
    Raises:
        tf.errors.InvalidArgumentError: "path: problem" for empty, truncated, malformed or
            unrecognised files (and NaN/Inf with `check_finite`).
    """
    with tf.name_scope("decode_audio"):
        contents = tf.convert_to_tensor(contents, tf.string)
        path = None if path is None else tf.convert_to_tensor(path, tf.string)
        audio, rate, ok, problem = _decode_report(contents, sr, mono, check_finite)
        check = _assert(ok, problem, path)
        with tf.control_dependencies([check] if check is not None else []):
            return tf.identity(audio), tf.identity(rate)


def read_audio(path: TensorLike | PathLike, sr: int | tf.Tensor | None = None, mono: bool = True,
               check_finite: bool = False) -> tuple[tf.Tensor, tf.Tensor]:
    """Read and decode an audio file in-graph (for ``tf.data.Dataset.map``).

    Returns:
        audio float32 `(samples,)` if mono else `(channels, samples)`; sample rate int32.
    """
    with tf.name_scope("read_audio"):
        if isinstance(path, os.PathLike):
            path = os.fspath(path)
        path = tf.convert_to_tensor(path, tf.string)
        return decode_audio(tf.io.read_file(path), sr=sr, mono=mono, path=path, check_finite=check_finite)


# ------------------------------------------------------------------------ eager


@functools.lru_cache(maxsize=16)
def _loader(sr: int | None, mono: bool) -> Any:
    @tf.function(input_signature=[tf.TensorSpec([], tf.string)], autograph=False)
    def fn(contents):
        return _decode_report(contents, sr, mono, check_finite=True)

    return fn


_ASSERT_RE = re.compile(r"assertion failed: \[(.*?)\]\s*(?:\n|$)", re.S)
_EAGER_RE = re.compile(r"Summarized data: b(['\"])(.*?)\1", re.S)


def _problem(error: tf.errors.OpError) -> str:
    """The one-line problem from a TF error raised by our assertions (or its first line)."""
    text = error.message or str(error)
    m = _ASSERT_RE.search(text)
    if m:
        return m.group(1).replace("\\'", "'").strip()
    m = _EAGER_RE.search(text)
    if m:
        return m.group(2).replace("\\'", "'").strip()
    lines = [line.strip() for line in text.splitlines() if line.strip() and "{{node" not in line]
    return re.sub(r"^Graph execution error:\s*", "", lines[0] if lines else type(error).__name__)


def load(path: PathLike, sr: int | None = None, mono: bool = True,
         dtype: Any = np.float32) -> tuple[np.ndarray, int]:
    """Load an audio file like ``librosa.load`` (but `sr=None` keeps the native rate by default).

    Returns:
        `(samples,)` if mono (or the file has one channel) else `(channels, samples)` of `dtype`, and the
        sample rate.
    Raises:
        AudioFileError: missing, empty, truncated, not audio, no samples, or NaN/Inf samples.
    """
    path_str = os.fspath(path)
    if sr is not None and (int(sr) != sr or sr <= 0):
        raise ValueError(f"sr must be a positive integer or None, got {sr!r}")
    headers.check(path_str)  # missing, empty, not audio, malformed or truncated WAV: before reading it
    try:
        with open(path_str, "rb") as f:
            data = f.read()
    except OSError as e:
        raise AudioFileError(path_str, f"cannot read file ({e.strerror or e})") from None
    if not data:
        raise AudioFileError(path_str, "file is empty (0 bytes)")
    try:
        audio, rate, ok, problem = _loader(None if sr is None else int(sr), bool(mono))(tf.constant(data))
    except tf.errors.OpError as e:  # tensorflow-io's decoders fail with their own errors
        raise AudioFileError(path_str, _problem(e)) from None
    if not ok:
        raise AudioFileError(path_str, problem.numpy().decode("utf-8", "replace"))
    audio = audio.numpy()
    if not mono and audio.shape[0] == 1:  # as librosa.load: a one-channel file is `(samples,)`
        audio = audio[0]
    if audio.shape[-1] == 0:
        raise AudioFileError(path_str, "contains no audio samples (zero length)")
    if not np.all(np.isfinite(audio)):
        raise AudioFileError(path_str, "audio contains NaN or Inf samples")
    return audio.astype(dtype, copy=False), int(rate.numpy())


def info(path: PathLike) -> dict[str, Any]:
    """Header facts via soundfile: `dict(sr, channels, frames, format, subtype, duration)`."""
    import soundfile as sf  # lazy: decoding only where files are read

    path_str = os.fspath(path)
    if not os.path.exists(path_str):
        raise AudioFileError(path_str, "file not found")
    try:
        i = sf.info(path_str)
    except Exception as e:  # noqa: BLE001
        reason = str(e).split(":")[-1].strip().rstrip(".") or type(e).__name__
        raise AudioFileError(path_str, f"not a recognised audio file ({reason})") from None
    return dict(sr=int(i.samplerate), channels=int(i.channels), frames=int(i.frames), format=i.format,
                subtype=i.subtype, duration=float(i.duration))
