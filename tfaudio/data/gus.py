"""Gravis UltraSound patches (.pat) as a SoundFont 2 in memory, so that `tfaudio.corpus` renders them like any
other SoundFont.

Debian's ``freepats`` package holds General MIDI instruments recorded from real instruments as GUS patches
(``/usr/share/midi/freepats/Tone_000/NNN_Name.pat``, NNN the 0-based GM program). `sf2_from_patches` reads
such a folder and returns the bytes of an SF2 bank with one preset per patch (bank 0, program NNN), which
tinysoundfont loads directly. The conversion keeps each patch's samples, loops, key ranges and tuning and
maps its six-stage GUS volume envelope onto SF2's attack/decay/sustain/release (GUS volumes are
logarithmic: an offset step is 96/255 dB); vibrato, tremolo and panning in the patch are dropped (the corpus
adds its own vibrato). No external program is run.
"""
from __future__ import annotations

import dataclasses
import functools
import math
import struct
from pathlib import Path

import numpy as np

from tfaudio.errors import TfaudioError

_HEADER = 129 + 63 + 47  #: file header, instrument header, layer header: the first sample header follows
_SAMPLE_HEADER = 96
_MAGIC = (b"GF1PATCH110\0", b"GF1PATCH100\0")
_16BIT, _UNSIGNED, _LOOP, _PINGPONG, _SUSTAIN, _ENVELOPE = 0x01, 0x02, 0x04, 0x08, 0x20, 0x40
_DB_PER_STEP = 96.0 / 255.0  #: GUS envelope offsets: 0 (silence) to 255 (full), logarithmic
_SF2_PAD = 46  #: zero samples after each sample, as SF2 requires


@dataclasses.dataclass(frozen=True, eq=False)
class PatchSample:
    """One sample of a GUS patch: int16 audio `(n,)` at `rate` Hz, loop `[loop_start, loop_end)` in samples
    (`looped`), recorded pitch `root_hz`, the pitches it serves `low_hz`-`high_hz`, and its envelope (six
    rates and offsets, `sustain`: holds at stage 3 while the key is down; `envelope`: any shaping at all)."""

    data: np.ndarray
    rate: int
    loop_start: int
    loop_end: int
    looped: bool
    root_hz: float
    low_hz: float
    high_hz: float
    rates: tuple[int, ...]
    offsets: tuple[int, ...]
    sustain: bool
    envelope: bool


def read_patch(path: str | Path) -> list[PatchSample]:
    """The samples of the first layer of the GUS patch at `path`; one `TfaudioError` line if it is not one."""
    path = Path(path)
    raw = path.read_bytes()
    if raw[:12] not in _MAGIC or len(raw) < _HEADER:
        raise TfaudioError(f"{path}: not a GUS patch (no GF1PATCH header)")
    n = raw[129 + 63 + 6]  # samples of the first layer
    out, at = [], _HEADER
    for _ in range(n):
        h = raw[at:at + _SAMPLE_HEADER]
        if len(h) < _SAMPLE_HEADER:
            raise TfaudioError(f"{path}: truncated GUS patch")
        size, loop_start, loop_end = struct.unpack_from("<III", h, 8)
        rate = struct.unpack_from("<H", h, 20)[0]
        low, high, root = struct.unpack_from("<III", h, 22)
        rates, offsets, modes = tuple(h[37:43]), tuple(h[43:49]), h[55]
        body = raw[at + _SAMPLE_HEADER:at + _SAMPLE_HEADER + size]
        if len(body) < size or not rate or not root:
            raise TfaudioError(f"{path}: truncated or malformed GUS patch sample")
        if modes & _16BIT:
            data = np.frombuffer(body[:size // 2 * 2], "<u2" if modes & _UNSIGNED else "<i2").astype(np.int32)
            data = (data - 32768 if modes & _UNSIGNED else data).astype(np.int16)
            loop_start, loop_end = loop_start // 2, loop_end // 2
        else:
            data = np.frombuffer(body, np.uint8 if modes & _UNSIGNED else np.int8).astype(np.int32)
            data = ((data - 128 if modes & _UNSIGNED else data) * 256).astype(np.int16)
        looped = bool(modes & _LOOP) and 0 <= loop_start < loop_end <= len(data)
        if looped and modes & _PINGPONG and loop_end - loop_start > 2:  # SF2 loops forwards only: unroll
            back = data[loop_start + 1:loop_end - 1][::-1]
            data = np.concatenate([data[:loop_end], back, data[loop_end:]])
            loop_end += len(back)
        out.append(PatchSample(data, int(rate), int(loop_start), int(loop_end), looped, root / 1000.0,
                               low / 1000.0, high / 1000.0, rates, offsets, bool(modes & _SUSTAIN),
                               bool(modes & _ENVELOPE)))
        at += _SAMPLE_HEADER + size
    if not out:
        raise TfaudioError(f"{path}: a GUS patch without samples")
    return out


def patch_programs(folder: str | Path) -> dict[int, Path]:
    """GM program (0-based) -> patch file, from the names ``NNN_Name.pat`` in `folder` (freepats' layout)."""
    found = {}
    for p in sorted(Path(folder).glob("*.pat")):
        head = p.name.split("_", 1)[0]
        if head.isdigit() and 0 <= int(head) <= 127:
            found.setdefault(int(head), p)
    return found


def _key(hz: float) -> float:
    return 69.0 + 12.0 * math.log2(hz / 440.0)


def _seconds(rate: int, steps: int) -> float:
    """How long a GUS envelope stage at `rate` takes to move `steps` offsets (TiMidity's reading of the rate
    byte: 6-bit increment, 2-bit range dividing it by 8 per step)."""
    inc = (rate & 0x3F) << (3 * (3 - ((rate >> 6) & 3)))
    return 100.0 if inc == 0 else abs(steps) * 8192.0 / (inc * 44100.0)


def _timecents(seconds: float, lo: int = -12000, hi: int = 8000) -> int:
    return int(np.clip(round(1200 * math.log2(max(seconds, 1e-4))), lo, hi))


def envelope_generators(s: PatchSample) -> dict[int, int]:
    """SF2 generators (number -> amount) for the volume envelope of `s`: attack (34), decay (36), sustain
    (37, cB below the peak), release (38), and initial attenuation (48, cB of the peak below full)."""
    if not s.envelope:
        return {34: _timecents(0.001), 38: _timecents(0.1)}
    o, r = s.offsets, s.rates
    peak = max(o[0], 1)
    hold_stage = 2 if s.sustain else 5  # without sustain the envelope runs on to its end while the key is down
    level = o[hold_stage]
    t_decay = sum(_seconds(r[i], o[i] - o[i - 1]) for i in range(1, hold_stage + 1))
    drop = max(0.0, (peak - level) * _DB_PER_STEP)
    gens = {34: _timecents(_seconds(r[0], o[0])),
            36: _timecents(t_decay * 100.0 / drop if drop > 0.5 else 0.001),
            37: int(min(1440, round(drop * 10))),
            48: int(min(1440, round((255 - peak) * _DB_PER_STEP * 10)))}
    if s.sustain:
        t_rel = sum(_seconds(r[i], o[i] - o[i - 1]) for i in range(3, 6))
        drop_r = max(0.0, (o[2] - o[5]) * _DB_PER_STEP)
        gens[38] = _timecents(t_rel * 100.0 / drop_r if drop_r > 0.5 else 0.05, hi=_timecents(8.0))
    else:
        gens[38] = _timecents(0.05)
    return gens


def key_ranges(samples: list[PatchSample]) -> list[tuple[PatchSample, int, int]]:
    """Each sample with the MIDI keys it plays, covering 0-127 without overlap: its own low-high frequency
    range where the patch's ranges allow, gaps split half way, the lowest down to 0 and the highest up to 127."""
    ordered = sorted(samples, key=lambda s: s.root_hz)
    want = [(math.ceil(_key(max(s.low_hz, 8.0)) - 0.01), math.floor(_key(max(s.high_hz, 8.0)) + 0.01))
            for s in ordered]
    out, lo = [], 0
    for i, s in enumerate(ordered):
        if i == len(ordered) - 1:
            hi = 127
        else:
            hi = min(want[i][1], 127)
            nxt = want[i + 1][0]
            if nxt > hi + 1:  # a gap: split it
                hi = (hi + nxt) // 2
        hi = max(hi, lo)
        if lo <= 127:
            out.append((s, lo, min(hi, 127)))
        lo = hi + 1
    return out


def sf2_bytes(presets: dict[int, tuple[str, list[PatchSample]]], name: str = "GUS patches") -> bytes:
    """An SF2 bank: one preset per GM program of `presets` (program -> (name, samples)), bank 0."""
    smpl, shdr, inst, ibag, igen, phdr, pbag, pgen = [], [], [], [], [], [], [], []
    pos = 0
    for k, program in enumerate(sorted(presets)):
        label, samples = presets[program]
        phdr.append(struct.pack("<20sHHHIII", label[:19].encode(), program, 0, len(pbag), 0, 0, 0))
        pbag.append(struct.pack("<HH", len(pgen), 0))
        pgen.append(struct.pack("<HH", 41, k))  # instrument k
        inst.append(struct.pack("<20sH", label[:19].encode(), len(ibag)))
        for s, lo, hi in key_ranges(samples):
            key = _key(s.root_hz)
            root = int(np.clip(round(key), 0, 127))
            gens = {54: 1 if s.looped else 0, 58: root, 52: int(np.clip(round((root - key) * 100), -99, 99))}
            gens.update(envelope_generators(s))
            ibag.append(struct.pack("<HH", len(igen), 0))
            igen.append(struct.pack("<HBB", 43, lo, hi))  # keyRange first
            igen.extend(struct.pack("<Hh", g, v) for g, v in gens.items())
            igen.append(struct.pack("<HH", 53, len(shdr)))  # sampleID last
            n = len(s.data)
            ls, le = (s.loop_start, s.loop_end) if s.looped else (0, n)
            shdr.append(struct.pack("<20sIIIIIBbHH", f"{label[:12]}{len(shdr)}".encode()[:19], pos, pos + n,
                                    pos + ls, pos + le, s.rate, root, 0, 0, 1))
            smpl.append(np.concatenate([s.data, np.zeros(_SF2_PAD, np.int16)]).astype("<i2").tobytes())
            pos += n + _SF2_PAD
    phdr.append(struct.pack("<20sHHHIII", b"EOP", 0, 0, len(pbag), 0, 0, 0))
    pbag.append(struct.pack("<HH", len(pgen), 0))
    pgen.append(struct.pack("<HH", 0, 0))
    inst.append(struct.pack("<20sH", b"EOI", len(ibag)))
    ibag.append(struct.pack("<HH", len(igen), 0))
    igen.append(struct.pack("<HH", 0, 0))
    shdr.append(struct.pack("<20sIIIIIBbHH", b"EOS", 0, 0, 0, 0, 0, 0, 0, 0, 0))
    terminal_mod = struct.pack("<HHhHH", 0, 0, 0, 0, 0)

    def chunk(tag: bytes, body: bytes) -> bytes:
        return tag + struct.pack("<I", len(body)) + body + (b"\0" if len(body) % 2 else b"")

    def listed(kind: bytes, *chunks: bytes) -> bytes:
        return chunk(b"LIST", kind + b"".join(chunks))

    title = name.encode()[:255] + b"\0"
    info = listed(b"INFO", chunk(b"ifil", struct.pack("<HH", 2, 1)), chunk(b"isng", b"EMU8000\0"),
                  chunk(b"INAM", title + (b"\0" if len(title) % 2 else b"")))
    sdta = listed(b"sdta", chunk(b"smpl", b"".join(smpl)))
    pdta = listed(b"pdta", chunk(b"phdr", b"".join(phdr)), chunk(b"pbag", b"".join(pbag)),
                  chunk(b"pmod", terminal_mod), chunk(b"pgen", b"".join(pgen)), chunk(b"inst", b"".join(inst)),
                  chunk(b"ibag", b"".join(ibag)), chunk(b"imod", terminal_mod), chunk(b"igen", b"".join(igen)),
                  chunk(b"shdr", b"".join(shdr)))
    return chunk(b"RIFF", b"sfbk" + info + sdta + pdta)


@functools.lru_cache(maxsize=2)
def sf2_from_patches(folder: str, name: str = "GUS patches") -> bytes:
    """The GUS patches ``NNN_Name.pat`` of `folder` as SF2 bytes (cached per folder in this process); one
    `TfaudioError` line if the folder holds none."""
    programs = patch_programs(folder)
    if not programs:
        raise TfaudioError(f"{folder}: no GUS patches (NNN_Name.pat) there")
    presets = {prog: (p.stem.split("_", 1)[-1].replace("_", " "), read_patch(p)) for prog, p in programs.items()}
    return sf2_bytes(presets, name)
