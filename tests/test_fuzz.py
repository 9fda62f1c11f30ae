"""Fuzzed inputs (hypothesis): every input loads correctly or raises the project's one-line error.

Targets: the Python WAV header check (`tfaudio.io.headers.check`), the in-graph WAV parser and the
soundfile path for FLAC/OGG/MP3 (`tfaudio.io.audio.decode_audio`), `tfaudio.io.audio.load`, the data-set
scanners (CSV manifests, Medley-Solos-DB metadata, IRMAS txt labels, NSynth JSON, stems manifests) and
the YAML experiment loader. The invariant: a result, or `AudioFileError` / `DatasetError` / `ConfigError`
(one line, naming the file) — never another exception, a hang (each case has a deadline) or memory growth
beyond `RSS_BOUND_MB` (headers claiming 4 GB of data included).

The run is derandomized (the same cases every time) with a fixed number of examples per target
(`EXAMPLES`); each test asserts it ran them all and prints the count. In all: 4,500 cases in about
30 s on a 2-core CPU, plus the hostile cases below. ``TFAUDIO_FUZZ_EXAMPLES=N`` runs N per target instead (a
longer local fuzz).
"""
from __future__ import annotations

import io
import json
import os
import resource
import struct
import tempfile
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from tfaudio.io import headers  # noqa: E402
from tfaudio.errors import AudioFileError, ConfigError, DatasetError  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
#: Examples per target (4,500 cases in all over the ten targets below).
EXAMPLES = {"wav_header": 1000, "decode_wav": 600, "decode_other": 400, "load": 500, "csv": 300, "msdb": 300,
            "irmas": 300, "nsynth": 400, "stems": 200, "yaml": 500}
SCALE = int(os.environ.get("TFAUDIO_FUZZ_EXAMPLES", "0"))
#: How much the peak resident memory of the test process may grow over the whole fuzz run.
RSS_BOUND_MB = 400
CASES: dict[str, int] = {}


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def fuzz(name: str, strategy: st.SearchStrategy, check, deadline_s: float = 5.0) -> int:
    """Run `check` on `EXAMPLES[name]` derandomized examples of `strategy`; returns how many ran."""
    count = 0
    examples = SCALE or EXAMPLES[name]

    @settings(max_examples=examples, derandomize=True, database=None, deadline=timedelta(seconds=deadline_s),
              suppress_health_check=list(HealthCheck), print_blob=True)
    @given(strategy)
    def run(case):
        nonlocal count
        count += 1
        check(case)

    run()
    CASES[name] = count
    print(f"fuzz {name}: {count} cases")
    assert count >= examples, f"{name}: only {count} of {examples} cases ran"
    return count


@pytest.fixture(scope="module", autouse=True)
def memory_bound():
    """The fuzz targets together stay within `RSS_BOUND_MB` of peak memory growth (after warm-up)."""
    from tfaudio.io import audio

    y = np.zeros(1000, np.int16)
    buf = io.BytesIO()
    import soundfile as sf

    sf.write(buf, y, 8000, format="WAV", subtype="PCM_16")
    for sr in (None, 16000):  # trace the loaders once, outside the measurement
        audio._loader(sr, True)(buf.getvalue())
    audio._loader(None, False)(buf.getvalue())
    before = _peak_rss_mb()
    yield
    grown = _peak_rss_mb() - before
    print(f"fuzz: {sum(CASES.values())} cases in all {CASES}; peak memory grew {grown:.0f} MB")
    assert grown < RSS_BOUND_MB, f"peak memory grew {grown:.0f} MB over the fuzz run"


# --- WAV bytes -------------------------------------------------------------------------------------------

TAGS = st.sampled_from([1, 3, 0xFFFE, 2, 0, 0x55]) | st.integers(0, 0xFFFF)
CHANNELS = st.sampled_from([0, 1, 2, 3, 8, 0xFFFF]) | st.integers(0, 0xFFFF)
RATES = st.sampled_from([0, 1, 8000, 22050, 44100, 96000, 2 ** 31 - 1, 0xFFFFFFFF]) | st.integers(0, 0xFFFFFFFF)
BITS = st.sampled_from([0, 8, 12, 16, 24, 32, 64, 0xFFFF]) | st.integers(0, 0xFFFF)
SIZES = st.sampled_from([None, 0, 1, 0xFFFFFFFF, 0xFFFFFFF0, 0x7FFFFFFF]) | st.integers(0, 0xFFFFFFFF)


@st.composite
def wav_files(draw) -> bytes:
    """RIFF/WAVE files with every field drawn: odd tags, channel counts, rates, bit depths, chunk sizes
    that lie (4 GB data chunks, streamed 0xFFFFFFFF), junk chunks, missing chunks, WAVE_FORMAT_EXTENSIBLE,
    truncations and bit flips."""
    tag, channels, rate, bits = draw(TAGS), draw(CHANNELS), draw(RATES), draw(BITS)
    fmt = struct.pack("<HHIIHH", tag, channels, rate, (rate * channels * max(bits, 8) // 8) & 0xFFFFFFFF,
                      (channels * max(bits, 8) // 8) & 0xFFFF, bits)
    if tag == 0xFFFE or draw(st.booleans()):
        sub = draw(st.sampled_from([1, 3, 2, 0xFFFE]))
        fmt += struct.pack("<HHIH", 22, bits, 0, sub) + b"\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"
    fmt = fmt[:draw(st.sampled_from([len(fmt), 16, 14, 0]) | st.integers(0, len(fmt)))]
    data = draw(st.binary(max_size=600))
    chunks = []
    for _ in range(draw(st.integers(0, 2))):  # junk chunks (LIST, odd sizes that need padding)
        payload = draw(st.binary(max_size=9))
        chunks.append((draw(st.sampled_from([b"LIST", b"junk", b"fact", b"\x00\x00\x00\x00"])), payload, None))
    if draw(st.integers(0, 9)):
        chunks.append((b"fmt ", fmt, draw(st.sampled_from([None]) | SIZES)))
    if draw(st.integers(0, 9)):
        chunks.append((b"data", data, draw(st.sampled_from([None, None]) | SIZES)))
    chunks = draw(st.permutations(chunks)) if draw(st.integers(0, 4)) == 0 else chunks
    body = b"WAVE"
    for cid, payload, size in chunks:
        size = len(payload) if size is None else size
        body += cid + struct.pack("<I", size) + payload + (b"\x00" if len(payload) % 2 else b"")
    riff = draw(st.sampled_from([None, 0, 0xFFFFFFFF]) | st.integers(0, 0xFFFFFFFF))
    out = bytearray(b"RIFF" + struct.pack("<I", len(body) if riff is None else riff) + body)
    for _ in range(draw(st.integers(0, 3))):  # bit flips
        if out:
            pos = draw(st.integers(0, len(out) - 1))
            out[pos] ^= 1 << draw(st.integers(0, 7))
    cut = draw(st.sampled_from([None, None, None]) | st.integers(0, len(out)))
    return bytes(out if cut is None else out[:cut])


ANY_BYTES = st.one_of(st.binary(max_size=200), st.builds(lambda b: b"RIFF" + b, st.binary(max_size=200)),
                      st.builds(lambda b: b"RIFF\x00\x00\x00\x00WAVE" + b, st.binary(max_size=200)))
WAVS = st.one_of(wav_files(), wav_files(), ANY_BYTES)


def _seed_files() -> dict[str, bytes]:
    """Small valid files of every format soundfile writes here, to mutate."""
    import soundfile as sf

    t = np.arange(4000) / 8000
    y = (0.4 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    seeds = {}
    for fmt, subtype, ext in (("WAV", "PCM_16", "wav"), ("WAV", "FLOAT", "wav"), ("WAV", "PCM_24", "wav"),
                              ("FLAC", "PCM_16", "flac"), ("OGG", "VORBIS", "ogg"), ("MP3", "MPEG_LAYER_III", "mp3"),
                              ("AIFF", "PCM_16", "aiff"), ("AU", "PCM_16", "au")):
        buf = io.BytesIO()
        try:
            sf.write(buf, np.stack([y, -y], 1), 8000, format=fmt, subtype=subtype)
        except (sf.LibsndfileError, ValueError, TypeError):  # MP3 writing needs libsndfile >= 1.1
            continue
        seeds[f"{ext}/{subtype}"] = buf.getvalue()
    return seeds


SEEDS = _seed_files()


@st.composite
def mutated(draw, seeds: dict[str, bytes] | None = None) -> bytes:
    """A valid file of some format with bit flips, overwritten bytes, inserted junk or a truncation."""
    seeds = seeds or SEEDS
    data = bytearray(seeds[draw(st.sampled_from(sorted(seeds)))])
    for _ in range(draw(st.integers(0, 4))):
        kind, pos = draw(st.integers(0, 3)), draw(st.integers(0, len(data) - 1)) if data else 0
        if kind == 0 and data:
            data[pos] ^= 1 << draw(st.integers(0, 7))
        elif kind == 1 and data:
            data[pos:pos + 4] = draw(st.sampled_from([b"\xff\xff\xff\xff", b"\x00\x00\x00\x00", b"\x7f\xff\xff\xff"]))
        elif kind == 2:
            data[pos:pos] = draw(st.binary(min_size=1, max_size=16))
        else:
            del data[draw(st.integers(0, len(data))):]
    return bytes(data)


def _write(folder: Path, data: bytes, name: str = "x.wav") -> Path:
    p = folder / name
    p.write_bytes(data)
    return p


# --- the decoders ----------------------------------------------------------------------------------------


def test_fuzz_wav_header_check():
    """`headers.check`: a format name, or AudioFileError naming the file."""
    with tempfile.TemporaryDirectory() as d:
        def check(data: bytes) -> None:
            p = _write(Path(d), data)
            try:
                kind = headers.check(p)
            except AudioFileError as e:
                assert str(e).startswith(f"{p}: ") and "\n" not in str(e), str(e)
                return
            assert kind in set(headers.FORMATS.values()) | {"mp3"}

        fuzz("wav_header", st.one_of(WAVS, mutated()), check)


def _decode_report(data: bytes, sr: int | None = None, mono: bool = True):
    from tfaudio.io import audio

    with headers.quiet_stderr():  # libmpg123 prints its complaints about damaged MP3s straight to fd 2
        audio_, rate, ok, problem = audio._loader(sr, mono)(data)
    return audio_.numpy(), int(rate.numpy()), bool(ok.numpy()), problem.numpy().decode("utf-8", "replace")


def _graph_decodes(data: bytes) -> bool:
    """Whether the in-graph parser decodes `data` itself (a RIFF file of an encoding it reads)."""
    import tensorflow as tf

    from tfaudio.io import audio

    h = audio._parse_wav(tf.constant(data), tf.constant(len(data), tf.int64))
    return bool(h["is_riff"].numpy()) and not bool(h["unsupported"].numpy())


def test_fuzz_in_graph_wav_parser_agrees_with_the_header_check():
    """The in-graph WAV parser never fails: it reports (ok, problem); for a WAV both checks reject, they give
    the same problem; a WAV it accepts decodes to finite samples of whole frames."""
    with tempfile.TemporaryDirectory() as d:
        def check(data: bytes) -> None:
            y, rate, ok, problem = _decode_report(data)
            try:
                headers.check(_write(Path(d), data))
                header_problem = None
            except AudioFileError as e:
                header_problem = e.problem
            if ok:
                assert np.all(np.isfinite(y)) and rate > 0 and y.ndim == 1
                # zero length is the header check's to report (the graph returns no samples; `load` refuses
                # them); WAV encodings the graph hands to soundfile (A-law, ADPCM, ...) get its leniency there
                assert header_problem is None or (header_problem.startswith("contains no audio samples")
                                                  and y.size == 0) or not _graph_decodes(data), header_problem
                assert y.size * 1 <= len(data)  # never more samples than bytes
            else:
                assert problem and "\n" not in problem
                # checks only one side makes: encodings handed to soundfile and the rate bounds (the graph),
                # zero length (the header check; the graph returns no samples)
                one_sided = (problem.startswith(("unsupported", "not a recognised audio file", "implausible sample"))
                             or (header_problem or "").startswith("contains no audio samples"))
                if header_problem is not None and data[:4] == b"RIFF" and not one_sided:
                    assert problem == header_problem, (problem, header_problem)

        fuzz("decode_wav", WAVS, check)


# libsndfile seeks before the start of some damaged files; a seek that raised there was printed by cffi as a
# traceback ("Exception ignored from cffi callback"). `tfaudio.io.headers.SeekSafe` never raises: such output fails.
@pytest.mark.filterwarnings("error::pytest.PytestUnraisableExceptionWarning")
def test_fuzz_other_formats_through_the_decoder():
    """FLAC, Ogg Vorbis, MP3, AIFF, AU (soundfile here; tensorflow-io in .ci/tfio), damaged: a result or
    (ok=False, one-line problem); never an exception out of the graph."""
    others = {k: v for k, v in SEEDS.items() if not k.startswith("wav")}
    assert {"flac/PCM_16", "ogg/VORBIS"} <= set(others)

    import tensorflow as tf

    from tfaudio.io import audio

    def check(data: bytes) -> None:
        try:
            y, rate, ok, problem = _decode_report(data, mono=False)
        except tf.errors.OpError:  # tensorflow-io's decoders raise on damaged input (`load` turns it into one line)
            assert audio.has_tfio()
            return
        if ok:
            assert rate > 0 and np.all(np.isfinite(y)) and y.ndim == 2
        else:
            assert problem and "\n" not in problem

    fuzz("decode_other", st.one_of(mutated(others), mutated(others), ANY_BYTES), check)


@pytest.mark.filterwarnings("error::pytest.PytestUnraisableExceptionWarning")
def test_fuzz_load():
    """`tfaudio.io.audio.load` (header check, then decode): samples and a rate, or AudioFileError."""
    from tfaudio.io.audio import load

    with tempfile.TemporaryDirectory() as d:
        def check(case) -> None:
            data, sr, mono = case
            p = _write(Path(d), data, "x.bin")
            try:
                with headers.quiet_stderr():
                    y, rate = load(p, sr=sr, mono=mono)
            except AudioFileError as e:
                assert str(e).startswith(f"{p}: ") and "\n" not in str(e), str(e)
                return
            assert y.dtype == np.float32 and np.all(np.isfinite(y)) and y.size > 0
            assert rate == (sr or rate) and rate > 0

        files = st.one_of(WAVS, mutated())
        fuzz("load", st.tuples(files, st.sampled_from([None, 16000]), st.booleans()), check, deadline_s=10)


def _pcm_wav(rate: int, frames: int, channels: int = 1) -> bytes:
    data = b"\x01\x10" * frames * channels
    fmt = struct.pack("<HHIIHH", 1, channels, rate, (rate * channels * 2) & 0xFFFFFFFF, channels * 2, 16)
    body = b"WAVEfmt " + struct.pack("<I", 16) + fmt + b"data" + struct.pack("<I", len(data)) + data
    return b"RIFF" + struct.pack("<I", len(body)) + body


@pytest.mark.parametrize("rate", [0, 1, 999, 1_000_001, 2 ** 31 - 1, 2 ** 31, 0xFFFFFFFF])
def test_hostile_rates_are_refused_quickly(tmp_path, rate):
    """A header's sample rate is a 32-bit field: 1 Hz would make a 2-kB file resample to 22 M samples (minutes),
    and 2^31 or more wrapped to a negative rate that loaded silently. Outside 1 kHz-1 MHz: one line, at once,
    for WAV (in the graph) and AU (soundfile; libsndfile refuses rates of 2^31 and more itself)."""
    import time

    from tfaudio.io.headers import MAX_RATE, MIN_RATE
    from tfaudio.io.audio import load

    assert (MIN_RATE, MAX_RATE) == (1000, 1_000_000)
    au = b".snd" + struct.pack(">IIIII", 24, 2000, 3, rate, 1) + b"\x10\x01" * 1000  # 16-bit PCM, big-endian
    for name, data in (("x.wav", _pcm_wav(rate, 1000)), ("x.au", au)):
        p = _write(tmp_path, data, name)
        for sr in (None, 22050):
            t0 = time.perf_counter()
            with pytest.raises(AudioFileError) as e:
                load(p, sr=sr)
            assert time.perf_counter() - t0 < 5
            assert "\n" not in str(e.value) and str(e.value).startswith(f"{p}: "), str(e.value)
            if name == "x.wav" and rate:  # (libsndfile itself refuses AU rates of 2^31 and more)
                assert "implausible sample rate" in str(e.value), str(e.value)


def test_the_plausible_rate_bounds_load(tmp_path):
    from tfaudio.io.audio import load

    for rate in (1000, 1_000_000):
        y, sr = load(_write(tmp_path, _pcm_wav(rate, 1000)))
        assert sr == rate and y.shape == (1000,)
    y, sr = load(_write(tmp_path, _pcm_wav(1000, 1000)), sr=16000)
    assert sr == 16000 and y.shape == (16000,)


def test_headers_claiming_4_gb_are_refused_without_allocating(tmp_path):
    """A 60-byte WAV whose data chunk claims 4 GB, or streamed (size 0xFFFFFFFF) with 4 bytes, and a FLAC
    whose STREAMINFO claims 2^36 samples: each one line, quickly, with no big allocation."""
    from tfaudio.io.audio import load

    before = _peak_rss_mb()
    fmt = struct.pack("<HHIIHH", 1, 2, 44100, 44100 * 4, 4, 16)
    for size, tail in ((0xFFFFFFF0, b"\x00" * 8), (0xFFFFFFFF, b"\x01\x00\x02\x00")):
        data = b"RIFF\xff\xff\xff\xffWAVEfmt " + struct.pack("<I", 16) + fmt + b"data" + struct.pack("<I", size) + tail
        p = _write(tmp_path, data)
        if size == 0xFFFFFFFF:  # streamed: the data runs to the end of the file (1 frame here)
            y, rate = load(p, mono=False)
            assert y.shape == (2, 1) and rate == 44100
        else:
            with pytest.raises(AudioFileError, match="truncated: data chunk declares 4294967280 bytes, 8 present"):
                load(p)
    flac = bytearray(SEEDS["flac/PCM_16"])
    flac[21:26] = bytes([flac[21] | 0x0F, 0xFF, 0xFF, 0xFF, 0xFF])  # total samples: 2^36 - 1
    p = _write(tmp_path, bytes(flac), "big.flac")
    try:
        y, _ = load(p)
        assert y.size < 10 ** 6
    except AudioFileError as e:
        assert "\n" not in str(e)
    assert _peak_rss_mb() - before < 200


# --- data-set scanners -----------------------------------------------------------------------------------

CELL = st.one_of(st.text(max_size=12), st.sampled_from(["", " ", "a.wav", "../x.wav", "/etc/passwd", "x\x00y",
                                                        "piano", "piano;flute", "training", "ü.wav", "\ufeff"]))
ROW = st.lists(CELL, max_size=6)


def _csv_text(header: list[str], rows: list[list[str]], raw: str | None) -> str:
    if raw is not None:
        return raw
    buf = io.StringIO()
    import csv

    w = csv.writer(buf)
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue()


def _scan(fn, *args, **kw):
    """Run a scanner, lenient and strict: records (whose labels are non-empty strings), or DatasetError in
    one line — never another exception."""
    results = []
    for strict in (False, True):
        try:
            records = fn(*args, strict=strict, **kw)
        except DatasetError as e:
            assert "\n" not in str(e), str(e)
            results.append(None)
            continue
        for r in records:
            assert isinstance(r.path, str) and r.labels and all(isinstance(x, str) and x for x in r.labels), r
        for where, problem in getattr(records, "skipped", []):
            assert "\n" not in problem, problem
        results.append(records)
    return results


def _text_file(folder: Path, name: str, content: str | bytes) -> Path:
    p = folder / name
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8", "surrogatepass"))
    return p


TEXT_OR_BYTES = st.one_of(st.text(max_size=200), st.binary(max_size=200))


def test_fuzz_csv_manifest():
    from tfaudio.data import datasets

    header = st.one_of(st.just(["path", "label"]), st.just(["path", "label", "subset"]), ROW)
    raw = st.one_of(st.none(), st.none(), st.text(max_size=200))

    def check(case) -> None:
        (cols, rows, text), sep = case
        with tempfile.TemporaryDirectory() as d:
            (Path(d) / "a.wav").write_bytes(b"")
            m = _text_file(Path(d), "m.csv", _csv_text(cols, rows, text))
            _scan(datasets.from_csv, m, verify="none", separator=sep)
            _scan(datasets.from_csv, m, verify="header")

    fuzz("csv", st.tuples(st.tuples(header, st.lists(ROW, max_size=6), raw), st.sampled_from([";", ",", "|"])),
         check)


def test_fuzz_medley_solos_db_metadata():
    from tfaudio.data import datasets

    cols = ["subset", "instrument", "instrument_id", "song_id", "uuid4"]
    row = st.tuples(st.sampled_from(["training", "validation", "test", "", "x"]) | CELL,
                    st.sampled_from(["piano", "flute", ""]) | CELL,
                    st.sampled_from(["0", "1", "-1", "1e9", "99999999999999999999", "x", ""]) | CELL,
                    CELL, st.sampled_from(["0000aaaa-bb", "deadbeef", "zz"]) | CELL).map(list)
    extra = st.lists(CELL, max_size=3)

    def check(case) -> None:
        rows, extras, raw, header = case
        with tempfile.TemporaryDirectory() as d:
            _text_file(Path(d), datasets.MSDB_METADATA,
                       raw if raw is not None else _csv_text(header or cols, [r + e for r, e in zip(rows, extras)], None))
            for r in rows:
                _text_file(Path(d), f"Medley-solos-DB_{r[0]}-{r[2]}_{r[4]}.wav".replace("/", "_").replace("\x00", ""), b"")
            _scan(datasets.medley_solos_db, d, verify="none")
            _scan(datasets.medley_solos_db, d, subset="training", verify="none")

    fuzz("msdb", st.tuples(st.lists(row, max_size=6), st.lists(extra, max_size=6),
                           st.one_of(st.none(), st.none(), st.text(max_size=100)), st.one_of(st.none(), ROW)), check)


def test_fuzz_irmas_labels_and_names():
    from tfaudio.data import datasets

    name = st.one_of(st.text(max_size=20), st.sampled_from(["[pia][nod][cla]0001__1", "[cel]", "[zzz][jaz]", "[]",
                                                             "[pia", "x[voi][dru]y", "[[pia]]"]))
    label_text = st.one_of(TEXT_OR_BYTES, st.sampled_from(["cel\t\npia\n", "", "\n\n", "xyz\n", "pia\x00\n"]))

    def check(case) -> None:
        train, test = case
        with tempfile.TemporaryDirectory() as d:
            root = Path(d)
            for folder, stem in train:
                safe = stem.replace("/", "_").replace("\x00", "")
                if safe in ("", ".", ".."):
                    continue
                _text_file(root / "IRMAS-TrainingData" / folder, f"{safe}.wav", b"RIFF")
            for stem, labels in test:
                safe = stem.replace("/", "_").replace("\x00", "")
                if safe in ("", ".", ".."):
                    continue
                _text_file(root / "Part1", f"{safe}.wav", b"RIFF")
                _text_file(root / "Part1", f"{safe}.txt", labels)
            _scan(datasets.irmas, d, "train", verify="none")
            _scan(datasets.irmas, d, "test", verify="none")
            _scan(datasets.irmas, d, "test", verify="header")

    fuzz("irmas", st.tuples(st.lists(st.tuples(st.sampled_from(["pia", "cel", "voi", "xyz"]), name), max_size=4),
                            st.lists(st.tuples(name, label_text), max_size=4)), check)


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
                    max_leaves=12)
EXAMPLE = st.fixed_dictionaries({}, optional={
    "instrument_family_str": st.sampled_from(["guitar", "brass", ""]) | JSON,
    "pitch": JSON, "velocity": JSON, "instrument_source_str": JSON,
    "qualities_str": st.one_of(st.lists(st.text(max_size=5), max_size=3), JSON)})


def test_fuzz_nsynth_json():
    from tfaudio.data import datasets

    examples = st.dictionaries(st.text(max_size=12) | st.sampled_from(["../../etc/passwd", "a\x00b", "guitar_001"]),
                               EXAMPLE | JSON, max_size=5)
    content = st.one_of(examples.map(json.dumps), examples.map(json.dumps), JSON.map(json.dumps), TEXT_OR_BYTES,
                        st.sampled_from(["[" * 50000, '{"a": ' * 30000, "NaN", '{"x": Infinity}']))

    def check(text) -> None:
        with tempfile.TemporaryDirectory() as d:
            _text_file(Path(d) / "nsynth-valid", "examples.json", text)
            _scan(datasets.nsynth, d, "valid", verify="none")
            _scan(datasets.nsynth, d, "valid", verify="header")

    fuzz("nsynth", content, check)


def test_fuzz_stems_manifest():
    from tfaudio.data import datasets

    header = st.one_of(st.just(["mix", "stem", "instrument"]), st.just(["mix", "stem", "instrument", "subset"]), ROW)

    def check(case) -> None:
        cols, rows = case
        with tempfile.TemporaryDirectory() as d:
            m = _text_file(Path(d), "songs.csv", _csv_text(cols, rows, None))
            _scan(datasets.from_stems, m, verify="none")

    fuzz("stems", st.tuples(header, st.lists(ROW, max_size=6)), check)


# --- the YAML experiment loader --------------------------------------------------------------------------

YAML_VALUES = st.one_of(JSON, st.sampled_from([10 ** 400, -1, 0, 1e308, float("nan"), float("inf"), [1, "a"], ["a", "b"],
                                               [1.0, 2.0, 3.0], {"a": 1}, "relu", None, True]))


@st.composite
def mutated_configs(draw) -> str:
    """A shipped pipeline YAML with keys replaced, added or removed, and values of every type."""
    import yaml

    names = sorted(p.name for p in (ROOT / "pipelines").glob("*.yaml"))
    data = yaml.safe_load((ROOT / "pipelines" / draw(st.sampled_from(names))).read_text())
    for _ in range(draw(st.integers(1, 4))):
        section = draw(st.sampled_from(sorted(data) + ["data", "features", "train", "mix", "augment", "model"]))
        node = data.get(section)
        if isinstance(node, dict) and node and draw(st.booleans()):
            key = draw(st.sampled_from(sorted(node)) | st.text(max_size=6))
            if draw(st.integers(0, 5)):
                node[key] = draw(YAML_VALUES)
            else:
                node.pop(key, None)
        else:
            data[section] = draw(YAML_VALUES)
    try:
        return yaml.safe_dump(data, allow_unicode=True)
    except yaml.YAMLError:
        return "name: x\n"


HOSTILE_YAML = [
    "a: &a [" + ", ".join(["x"] * 10) + "]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 10)}]\n" for i in range(8)),  # billion laughs
    "name: &n [*n]\n",  # a recursive alias
    "[" * 20000 + "]" * 20000,  # deep nesting
    "name: x\ntask: activation\nmodel: {name: activation_cnn}\ntrain: {epochs: 99999999999999999999999}\n",
    "name: x\ntask: activation\nmodel: {name: activation_cnn}\ntrain: {learning_rate: 99999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999}\n",
    "!!python/object/apply:os.system ['echo pwned']\n",
    "\x00\x01\x02",
    "\ufeffname: x\n",
]


def test_fuzz_yaml_experiment_loader():
    """`load_experiment`: an `ExperimentConfig` or ConfigError naming the file, for mutated pipelines and
    arbitrary text."""
    from tfaudio.experiment import load_experiment

    with tempfile.TemporaryDirectory() as d:
        def check(text) -> None:
            p = _text_file(Path(d), "exp.yaml", text)
            try:
                load_experiment(p)
            except ConfigError as e:
                assert str(e).startswith(f"{p}: ") and "\n" not in str(e), str(e)

        fuzz("yaml", st.one_of(mutated_configs(), mutated_configs(), mutated_configs(), TEXT_OR_BYTES), check)


_HOSTILE_RUNNER = """
import resource, sys, time
resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))  # 4 GB: an expanding config fails here, not the machine
from tfaudio.errors import ConfigError
from tfaudio.experiment import load_experiment
t0 = time.time()
try:
    load_experiment(sys.argv[1])
    print("loaded")
except ConfigError as e:
    print("ConfigError", str(e).count(chr(10)), round(time.time() - t0, 2))
"""


@pytest.mark.parametrize("text", HOSTILE_YAML, ids=["billion-laughs", "recursive-alias", "deep-nesting", "huge-int",
                                                     "huge-float", "python-tag", "control-bytes", "bom"])
def test_hostile_yaml_is_refused_in_one_line_with_bounded_memory(tmp_path, text):
    """Each in a subprocess limited to 4 GB of address space (TensorFlow loads in it) and 60 s: a loaded config
    or one ConfigError line."""
    import subprocess
    import sys

    p = _text_file(tmp_path, "exp.yaml", text)
    out = subprocess.run([sys.executable, "-c", _HOSTILE_RUNNER, str(p)], cwd=ROOT, capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr[-2000:]
    verdict = out.stdout.split()
    assert verdict[0] in ("loaded", "ConfigError"), out.stdout
    if verdict[0] == "ConfigError":
        assert verdict[1] == "0" and float(verdict[2]) < 10, out.stdout
    expected = {"billion-laughs": "ConfigError", "recursive-alias": "ConfigError", "deep-nesting": "ConfigError",
                "python-tag": "ConfigError", "control-bytes": "ConfigError", "huge-float": "ConfigError"}
    index = HOSTILE_YAML.index(text)
    name = ["billion-laughs", "recursive-alias", "deep-nesting", "huge-int", "huge-float", "python-tag",
            "control-bytes", "bom"][index]
    assert verdict[0] == expected.get(name, verdict[0]), (name, out.stdout)
