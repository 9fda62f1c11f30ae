"""The built-in corpus and the command line."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

from tests import fixtures
from tfaudio import cli
from tfaudio.data import corpus, datasets, multitrack, phrases


def test_render_corpus_reads_back_with_the_right_counts(tmp_path):
    corpus.render_corpus(tmp_path / "c", per_class=5, seed=7, progress=False)
    recs = datasets.medley_solos_db(tmp_path / "c")
    assert not recs.skipped
    names = [i.name for i in phrases.DEFAULT_INSTRUMENTS]
    assert datasets.classes_of(recs) == names
    assert datasets.summary(recs) == {
        "training": dict.fromkeys(sorted(names), 3),
        "validation": dict.fromkeys(sorted(names), 1),
        "test": dict.fromkeys(sorted(names), 1),
    }
    y, sr = sf.read(recs[0].path, dtype="float32")
    assert sr == 22050 and y.shape == (65536,)
    for r in recs:  # every clip is audible
        y, _ = sf.read(r.path, dtype="float32")
        assert np.sqrt(np.mean(y ** 2)) > 1e-3, r.path
    # songs never cross subsets
    subsets_of_song = {}
    for r in recs:
        subsets_of_song.setdefault(r.meta["song_id"], set()).add(r.subset)
    assert all(len(s) == 1 for s in subsets_of_song.values())


def test_render_corpus_is_reproducible(tmp_path):
    corpus.render_corpus(tmp_path / "a", per_class=3, seed=1, progress=False)
    corpus.render_corpus(tmp_path / "b", per_class=3, seed=1, progress=False)
    corpus.render_corpus(tmp_path / "c", per_class=3, seed=2, progress=False)
    assert fixtures.tree_digest(tmp_path / "a") == fixtures.tree_digest(tmp_path / "b")
    assert fixtures.tree_digest(tmp_path / "a") != fixtures.tree_digest(tmp_path / "c")


def test_phrases_are_musical():
    rng = np.random.default_rng(0)
    for inst in phrases.DEFAULT_INSTRUMENTS:
        notes = phrases.random_phrase(inst, 6.0, rng)
        pitches = [n.pitch for n in notes]
        assert min(pitches) >= inst.low and max(pitches) <= inst.high
        assert len({round(n.end - n.start, 3) for n in notes}) > 1  # varied durations
        assert len({n.velocity for n in notes}) > 1  # varied dynamics
        pcs = {p % 12 for p in pitches}
        assert len(pcs) <= 7  # one scale


def test_render_phrase_is_pitched_audio():
    y = corpus.render_phrase("flute", seconds=1.0, sr=22050, seed=3)
    assert y.dtype == np.float32 and y.shape == (22050,)
    assert np.isclose(np.abs(y).max(), 0.8, atol=1e-4)


def test_cli_corpus_render_with_programs(tmp_path, capsys):
    rc = cli.main(["corpus", "render", str(tmp_path / "c"), "--per-class", "3", "--programs", "0,40",
                   "--seed", "5", "--samples", "8192", "-q"])
    assert rc == 0
    out = capsys.readouterr().out
    assert "rendered 6 clips" in out
    recs = datasets.medley_solos_db(tmp_path / "c")
    assert datasets.classes_of(recs) == ["piano", "violin"]
    assert sf.info(recs[0].path).frames == 8192


def test_cli_errors_are_one_line(tmp_path, capsys):
    assert cli.main(["corpus", "render", str(tmp_path), "--soundfont", str(tmp_path / "none.sf2")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"tfaudio: error: {tmp_path / 'none.sf2'}: SoundFont not found"]
    (tmp_path / "junk.sf2").write_bytes(b"RIFF\x00\x00\x00\x00junk")
    assert cli.main(["corpus", "render", str(tmp_path), "--soundfont", str(tmp_path / "junk.sf2")]) == 2
    assert "not a readable SoundFont" in capsys.readouterr().err
    assert cli.main(["corpus", "render", str(tmp_path), "--programs", "200"]) == 2
    assert "GM program 200 is outside 0-127" in capsys.readouterr().err
    assert cli.main(["data", "summary", str(tmp_path / "nope"), "--format", "irmas", "--split", "train"]) == 2
    assert capsys.readouterr().err.strip() == f"tfaudio: error: {tmp_path / 'nope'}: data-set root not found"
    with pytest.raises(SystemExit) as e:
        cli.main(["corpus", "render", str(tmp_path), "--per-class", "0"])
    assert e.value.code == 2


def test_cli_data_summary_reports_skipped(tmp_path, capsys):
    fixtures.make_medley_solos_db(tmp_path)
    sorted((tmp_path / "audio").iterdir())[0].write_bytes(b"")
    assert cli.main(["data", "summary", str(tmp_path), "--format", "medley_solos_db"]) == 0
    out = capsys.readouterr().out
    assert "skipped 1 file(s):" in out and "file is empty (0 bytes)" in out
    assert cli.main(["data", "summary", str(tmp_path), "--format", "medley_solos_db", "--strict"]) == 2
    assert "file is empty (0 bytes)" in capsys.readouterr().err


def test_help_is_instant_and_imports_no_tensorflow():
    code = ("import sys, tfaudio.cli as c\n"
            "try:\n    c.main(['--help'])\nexcept SystemExit:\n    pass\n"
            "print('TF' if 'tensorflow' in sys.modules else 'noTF')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "COMMAND" in out and out.strip().endswith("noTF")


def test_render_sequence_plays_instruments_in_turn():
    mix, stems, names = multitrack.render_sequence(["piano", "flute", "violin"], seconds_each=0.5, sr=16000, seed=1)
    assert names == ["piano", "flute", "violin"] and stems.shape == (3, 24000) and mix.shape == (24000,)
    np.testing.assert_allclose(stems.sum(0), mix, atol=1e-6)
    for k in range(3):  # each stem sounds only in its own turn
        turn = slice(k * 8000, (k + 1) * 8000)
        assert np.abs(stems[k, turn]).max() > 0.1
        assert np.abs(np.delete(stems[k], np.r_[turn])).max() == 0
