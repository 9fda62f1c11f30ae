"""GUS patches as a corpus source (`tfaudio.data.gus`, the `freepats` SoundFont name): a patch written here converts
to an SF2 that plays in tune, loops and key ranges survive, bad files are one-line errors, and freepats (where
Debian's package is installed) renders every class, deterministically."""
from __future__ import annotations

import dataclasses
import struct
from pathlib import Path

import numpy as np
import pytest

from tfaudio.data import corpus, gus, multitrack
from tfaudio.errors import TfaudioError

FREEPATS = Path(corpus.SOUNDFONTS["freepats"].path)
needs_freepats = pytest.mark.skipif(not FREEPATS.is_dir(), reason=f"freepats is not installed ({FREEPATS} is absent; "
                                                                  "apt-get install --no-install-recommends freepats)")


def _patch(path: Path, samples: list[dict]) -> Path:
    """A GUS patch file: one instrument, one layer, the given samples (dicts of `write`'s fields)."""
    blobs = []
    for s in samples:
        modes = s.get("modes", 0x01 | 0x04 | 0x20 | 0x40)
        data = np.asarray(s["data"])
        body = data.astype("<i2").tobytes() if modes & 0x01 else data.astype(np.int8).tobytes()
        width = 2 if modes & 0x01 else 1
        loop = (s["loop"][0] * width, s["loop"][1] * width)
        head = (b"smp\0\0\0\0" + bytes([0]) + struct.pack("<III", len(body), *loop)
                + struct.pack("<H", s["rate"]) + struct.pack("<III", int(s["low"] * 1000), int(s["high"] * 1000),
                                                           int(s["root"] * 1000))
                + struct.pack("<H", 512) + bytes([7]) + bytes([63, 63, 63, 63, 63, 63]) + bytes([255, 255, 255, 0, 0, 0])
                + bytes(6) + bytes([modes]) + struct.pack("<HH", 60, 1024) + bytes(36))
        assert len(head) == 96
        blobs.append(head + body)
    header = (b"GF1PATCH110\0" + b"ID#000002\0" + b"test".ljust(60, b"\0") + bytes([1, 14, 0])
              + struct.pack("<HHI", len(samples), 127, sum(len(b) for b in blobs)) + bytes(36))
    inst = struct.pack("<H", 0) + b"test".ljust(16, b"\0") + struct.pack("<I", 0) + bytes([1]) + bytes(40)
    layer = bytes([0, 0]) + struct.pack("<I", 0) + bytes([len(samples)]) + bytes(40)
    path.write_bytes(header + inst + layer + b"".join(blobs))
    return path


def _sine(hz: float, rate: int, periods: int) -> np.ndarray:
    n = int(round(periods * rate / hz))
    return np.round(12000 * np.sin(2 * np.pi * hz * np.arange(n) / rate)).astype(np.int16)


def _render(sf2: bytes, program: int, key: int, sr: int = 22050, seconds: float = 0.5) -> np.ndarray:
    from tinysoundfont import _tinysoundfont as tsf

    font = tsf.SoundFont(sf2)
    font.set_output(tsf.OutputMode.StereoInterleaved, sr, 0.0)
    font.channel_set_bank(0, 0)
    font.channel_set_preset_number(0, program, False)
    font.channel_note_on(0, key, 0.9)
    buf = bytearray(int(sr * seconds) * 8)
    font.render(memoryview(buf), False)
    return np.frombuffer(buf, np.float32).reshape(-1, 2).mean(axis=1)


def _peak_hz(y: np.ndarray, sr: int) -> float:
    spec = np.abs(np.fft.rfft(y * np.hanning(len(y)), n=8 * len(y)))
    return float(np.argmax(spec) * sr / (8 * len(y)))


def test_a_patch_plays_in_tune_across_its_key_ranges(tmp_path):
    pytest.importorskip("tinysoundfont")
    # two looped sines: 220 Hz serving up to 300 Hz, 440 Hz above; the 440-Hz one recorded 30 cents sharp
    sharp = 440 * 2 ** (30 / 1200)
    a, b = _sine(220, 22050, 200), _sine(sharp, 32000, 400)
    _patch(tmp_path / "071_Test_Reed.pat", [
        dict(data=a, loop=(0, len(a)), rate=22050, low=20, high=300, root=220),
        dict(data=b, loop=(0, len(b)), rate=32000, low=300, high=8000, root=sharp)])
    sf2 = gus.sf2_from_patches(str(tmp_path), "test")
    assert sf2[:4] == b"RIFF" and sf2[8:12] == b"sfbk"
    for key in (57, 60, 69, 76):  # A3 and C4 from the 220-Hz sample, A4 and E5 from the 440-Hz one
        want = 440 * 2 ** ((key - 69) / 12)
        y = _render(sf2, 71, key)[2000:]
        assert np.sqrt(np.mean(y ** 2)) > 0.01  # the loop sustains the note
        assert abs(1200 * np.log2(_peak_hz(y, 22050) / want)) < 8, key
    with pytest.raises(Exception):  # no preset for a program the folder does not have
        _render(sf2, 72, 60)


def test_patch_samples_decode_and_ping_pong_loops_unroll(tmp_path):
    ramp = np.arange(-50, 50, dtype=np.int16)
    path = _patch(tmp_path / "000_X.pat", [
        dict(data=ramp, loop=(10, 20), rate=8000, low=20, high=8000, root=261.63, modes=0x04 | 0x08),  # 8-bit
        dict(data=ramp * 100, loop=(0, 0), rate=8000, low=20, high=8000, root=523.25, modes=0x01)])
    s8, s16 = gus.read_patch(path)
    assert s8.looped and s8.loop_start == 10 and s8.loop_end == 20 + 8  # forwards 10..19, then back 18..11
    np.testing.assert_array_equal(s8.data[20:28] // 256, ramp[11:19][::-1])
    np.testing.assert_array_equal(s8.data[:20] // 256, ramp[:20])
    assert not s16.looped and len(s16.data) == 100 and s16.data[0] == -5000
    ranges = gus.key_ranges([s16, s8])
    keys = [k for _, lo, hi in ranges for k in range(lo, hi + 1)]
    assert keys == list(range(128))  # every key, once


def test_bad_patches_are_one_line_errors(tmp_path):
    (tmp_path / "000_Bad.pat").write_bytes(b"not a patch at all" * 20)
    with pytest.raises(TfaudioError, match=r"000_Bad.pat: not a GUS patch") as e:
        gus.read_patch(tmp_path / "000_Bad.pat")
    assert "\n" not in str(e.value)
    with pytest.raises(TfaudioError, match="no GUS patches"):
        gus.sf2_from_patches(str(tmp_path / "empty"))


def test_a_missing_freepats_says_how_to_install_it(monkeypatch, tmp_path):
    missing = dataclasses.replace(corpus.SOUNDFONTS["freepats"], path=str(tmp_path / "gone"))
    monkeypatch.setitem(corpus.SOUNDFONTS, "freepats", missing)
    with pytest.raises(TfaudioError) as e:
        corpus.Renderer("freepats")
    message = str(e.value)
    assert "\n" not in message and "SoundFont 'freepats' is not installed" in message
    assert message.endswith("apt-get install --no-install-recommends freepats")


def test_a_folder_of_patches_is_a_source_by_path(tmp_path):
    pytest.importorskip("tinysoundfont")
    tone = _sine(220, 22050, 100)
    _patch(tmp_path / "071_Test_Reed.pat", [dict(data=tone, loop=(0, len(tone)), rate=22050, low=20, high=9000,
                                                 root=220)])
    assert corpus.soundfont_path(tmp_path) == str(tmp_path)
    r = corpus.Renderer(tmp_path)
    assert r.name == tmp_path.name and r.programs(corpus.DEFAULT_INSTRUMENTS[0]) == (71,)  # clarinet
    with pytest.raises(TfaudioError, match="no preset for 'flute'"):
        r.programs(corpus.DEFAULT_INSTRUMENTS[3])


@needs_freepats
def test_freepats_renders_every_class_deterministically():
    pytest.importorskip("tinysoundfont")
    r = corpus.Renderer("freepats")
    assert r.name == "freepats" and corpus.soundfont_name(str(FREEPATS)) == "freepats"
    for inst in (*corpus.DEFAULT_INSTRUMENTS, *corpus.IRMAS_INSTRUMENTS):
        assert r.programs(inst)[0] == inst.program  # every class's main program is there
    for inst in corpus.DEFAULT_INSTRUMENTS:
        y = corpus.render_phrase(inst, seconds=1.0, seed=3, soundfont="freepats")
        assert y.shape == (corpus.MSDB_SR,) and np.sqrt(np.mean(y ** 2)) > 0.01, inst.name
        np.testing.assert_array_equal(y, corpus.render_phrase(inst, seconds=1.0, seed=3, soundfont="freepats"))
    other = corpus.render_phrase("flute", seconds=1.0, seed=3, soundfont="timgm6mb")
    assert not np.allclose(other, corpus.render_phrase("flute", seconds=1.0, seed=3, soundfont="freepats"))


@needs_freepats
def test_a_freepats_corpus_is_byte_identical_for_a_seed(tmp_path):
    kw = dict(instruments=corpus.DEFAULT_INSTRUMENTS[:2], per_class=3, seed=4, soundfonts=["freepats"],
              n_samples=4096, progress=False)
    meta = corpus.render_corpus(tmp_path / "a", **kw)
    corpus.render_corpus(tmp_path / "b", **kw)
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*.wav"))
    assert len(files) == 6
    for f in files:
        assert (tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes()
    assert meta.read_text() == (tmp_path / "b" / meta.name).read_text() and ",freepats," in meta.read_text()


@needs_freepats
def test_freepats_songs_name_their_source(tmp_path):
    import json

    (song,) = multitrack.render_songs(tmp_path, n_songs=1, seconds=1.0, instruments=["flute", "piano"], seed=2,
                                  soundfont="freepats", progress=False)
    assert json.loads((song / "song.json").read_text())["soundfont"] == "freepats"
