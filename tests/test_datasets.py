"""Loaders list the right files and labels from layouts built as the real data sets are."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from tests import fixtures
from tfaudio.data import datasets, records
from tfaudio.errors import DatasetError


# --- Medley-Solos-DB ---------------------------------------------------------------------------

@pytest.mark.parametrize("subfolder", ["audio", None, "deep/er"])
def test_medley_solos_db_counts_and_labels(tmp_path, subfolder):
    fixtures.make_medley_solos_db(tmp_path, {"clarinet": 3, "piano": 2}, subfolder=subfolder)
    recs = datasets.medley_solos_db(tmp_path)
    assert len(recs) == 9 and not recs.skipped
    assert datasets.summary(recs) == {
        "training": {"clarinet": 3, "piano": 2}, "validation": {"clarinet": 1, "piano": 1},
        "test": {"clarinet": 1, "piano": 1}}
    for r in recs:
        assert Path(r.path).is_file()
        name = Path(r.path).name
        assert name == f"Medley-solos-DB_{r.subset}-{r.meta['instrument_id']}_{r.meta['uuid4']}.wav"
        assert r.labels == (["clarinet", "piano"][r.meta["instrument_id"]],)
    assert datasets.classes_of(recs) == ["clarinet", "piano"]
    train = datasets.medley_solos_db(tmp_path, subset="training")
    assert len(train) == 5 and {r.subset for r in train} == {"training"}


def test_medley_solos_db_classes_follow_instrument_id(tmp_path):
    fixtures.make_medley_solos_db(tmp_path, {"violin": 1, "clarinet": 1, "flute": 1})
    assert datasets.classes_of(datasets.medley_solos_db(tmp_path)) == ["violin", "clarinet", "flute"]


def test_medley_solos_db_missing_file_is_reported_and_skipped(tmp_path, caplog):
    fixtures.make_medley_solos_db(tmp_path)
    victim = sorted((tmp_path / "audio").iterdir())[0]
    victim.unlink()
    recs = datasets.medley_solos_db(tmp_path)
    assert len(recs) == 8
    assert recs.skipped == [(str(tmp_path / victim.name), "file not found")]
    assert victim.name in caplog.text
    with pytest.raises(DatasetError, match=victim.name + ".*file not found"):
        datasets.medley_solos_db(tmp_path, strict=True)


def test_medley_solos_db_malformed_metadata(tmp_path):
    fixtures.make_medley_solos_db(tmp_path)
    meta = tmp_path / "Medley-solos-DB_metadata.csv"
    rows = list(csv.reader(meta.open()))
    # a row whose instrument_id is not a number, one with a bad subset, one contradicting the id->name map
    rows[1][2] = "x"
    rows[2][0] = "train"
    rows[3][1] = "banjo"
    with meta.open("w", newline="") as f:
        csv.writer(f).writerows(rows)
    recs = datasets.medley_solos_db(tmp_path)
    assert len(recs) == 6
    problems = [p for _, p in recs.skipped]
    assert any("instrument_id 'x' is not an integer" in p for p in problems)
    assert any("unknown subset 'train'" in p for p in problems)
    assert any("'banjo'" in p for p in problems)
    assert all(":" in path and path.startswith(str(meta)) for path, _ in recs.skipped)
    with pytest.raises(DatasetError, match="Medley-solos-DB_metadata.csv:2: malformed metadata"):
        datasets.medley_solos_db(tmp_path, strict=True)
    meta.write_text("subset,instrument\ntraining,piano\n")
    with pytest.raises(DatasetError, match=r"missing column\(s\) \['instrument_id', 'song_id', 'uuid4'\]"):
        datasets.medley_solos_db(tmp_path)


def test_medley_solos_db_bad_arguments(tmp_path):
    with pytest.raises(DatasetError, match="data-set root not found"):
        datasets.medley_solos_db(tmp_path / "nope")
    with pytest.raises(DatasetError, match="no Medley-solos-DB_metadata.csv"):
        datasets.medley_solos_db(tmp_path)
    with pytest.raises(DatasetError, match="unknown Medley-Solos-DB subset 'train'"):
        datasets.medley_solos_db(tmp_path, subset="train")


# --- IRMAS ---------------------------------------------------------------------------------------

def test_irmas_train(tmp_path):
    fixtures.make_irmas(tmp_path)
    recs = datasets.irmas(tmp_path, "train")
    got = {Path(r.path).name: (r.labels, r.meta["drums"], r.meta["genre"]) for r in recs}
    assert got == {
        "008__[cel][nod][cla]0058__1.wav": (("cel",), False, "cla"),
        "012__[cel][dru][pop_roc]0115__2.wav": (("cel",), True, "pop_roc"),
        "[pia][jaz_blu]1483__1.wav": (("pia",), None, "jaz_blu"),
        "001__[pia][nod][cla]0001__3.wav": (("pia",), False, "cla"),
        "[voi][pop_roc]2290__2.wav": (("voi",), None, "pop_roc"),
    }
    assert {r.subset for r in recs} == {"train"}


def test_irmas_train_skips_mislabelled(tmp_path):
    fixtures.make_irmas(tmp_path)
    fixtures.write_audio(tmp_path / "IRMAS-TrainingData" / "pia" / "[cel][cla]0001__1.wav", fixtures.sine(), 44100)
    recs = datasets.irmas(tmp_path, "train")
    assert len(recs) == 5
    assert "disagrees with its folder 'pia'" in recs.skipped[0][1]


def test_irmas_test_nested_parts_and_whitespace(tmp_path):
    fixtures.make_irmas(tmp_path)
    recs = datasets.irmas(tmp_path, "test")
    got = {Path(r.path).name: r.labels for r in recs}
    assert got == {
        "01. Song - a-1.wav": ("cel", "pia"),
        "(02) dont kill the whale-1.wav": ("gel", "voi"),
        "(02) dont kill the whale-2.wav": ("voi",),
    }
    assert {r.subset for r in recs} == {"test"}
    assert datasets.classes_of(recs) == ["cel", "gel", "pia", "voi"]
    multi = datasets.encode_labels(recs, datasets.IRMAS_CLASSES, "multi_hot")
    assert multi.shape == (3, 11) and sorted(multi.sum(1)) == [1, 2, 2]


def test_irmas_test_unknown_label_and_missing_txt(tmp_path):
    fixtures.make_irmas(tmp_path)
    part = tmp_path / "IRMAS-TestingData-Part1" / "Part1"
    fixtures.write_audio(part / "odd.wav", fixtures.sine(), 44100)
    (part / "odd.txt").write_text("pia\nbanjo\n")
    fixtures.write_audio(part / "lonely.wav", fixtures.sine(), 44100)
    recs = datasets.irmas(tmp_path, "test")
    assert len(recs) == 3
    problems = dict(recs.skipped)
    assert problems[str(part / "odd.txt")] == "unknown label(s) ['banjo']"
    assert problems[str(part / "lonely.wav")] == "no label file lonely.txt"
    with pytest.raises(DatasetError, match="unknown IRMAS split 'valid'"):
        datasets.irmas(tmp_path, "valid")


# --- NSynth, folders, manifests --------------------------------------------------------------------

def test_nsynth(tmp_path):
    fixtures.make_nsynth(tmp_path, "valid")
    for root in (tmp_path, tmp_path / "nsynth-valid"):
        recs = datasets.nsynth(root, "valid")
        assert [r.labels for r in recs] == [("brass",), ("guitar",), ("guitar",), ("keyboard",)]
        assert all(Path(r.path).is_file() and r.subset == "valid" for r in recs)
    (tmp_path / "nsynth-valid" / "examples.json").write_text("{not json")
    with pytest.raises(DatasetError, match="examples.json: malformed metadata: not valid JSON"):
        datasets.nsynth(tmp_path, "valid")


def test_nsynth_refuses_escaping_note_str(tmp_path):
    fixtures.make_nsynth(tmp_path, "test")
    meta = tmp_path / "nsynth-test" / "examples.json"
    ex = json.loads(meta.read_text())
    ex["../../../etc/passwd"] = {"instrument_family_str": "guitar"}
    meta.write_text(json.dumps(ex))
    recs = datasets.nsynth(tmp_path, "test")
    assert len(recs) == 4
    assert "escapes the data-set root" in recs.skipped[0][1]


def test_from_folder(tmp_path):
    for cls, n in (("flute", 2), ("cello", 3)):
        for i in range(n):
            fixtures.write_audio(tmp_path / cls / ("sub" if i else "") / f"{i}.wav", fixtures.sine(), fixtures.SR)
    (tmp_path / "cello" / "notes.txt").write_text("ignored")
    recs = datasets.from_folder(tmp_path)
    assert datasets.summary(recs) == {"all": {"cello": 3, "flute": 2}}
    assert datasets.encode_labels(recs, datasets.classes_of(recs), "int").tolist() == [0, 0, 0, 1, 1]


def test_from_csv_multilabel_subsets_and_escapes(tmp_path):
    for name in ("a.wav", "b.flac", "c.wav"):
        fixtures.write_audio(tmp_path / "audio" / name, fixtures.sine(), fixtures.SR)
    outside = fixtures.write_audio(tmp_path.parent / f"{tmp_path.name}-outside.wav", fixtures.sine(), fixtures.SR)
    manifest = tmp_path / "manifest.csv"
    manifest.write_text(
        "path,label,subset\n"
        "audio/a.wav,piano,train\n"
        "audio/b.flac, piano ; violin ,test\n"
        f"../{outside.name},piano,train\n"
        f"{outside},piano,train\n"
        "audio/c.wav,,train\n"
    )
    recs = datasets.from_csv(manifest)
    assert [(Path(r.path).name, r.labels, r.subset) for r in recs] == [
        ("a.wav", ("piano",), "train"), ("b.flac", ("piano", "violin"), "test")]
    assert sum("escapes the data-set root" in p for _, p in recs.skipped) == 2
    assert any("empty path or label" in p for _, p in recs.skipped)
    with pytest.raises(DatasetError, match="escapes the data-set root"):
        datasets.from_csv(manifest, strict=True)
    assert [r.subset for r in datasets.load_records("csv", manifest, split="test")] == ["test"]
    (tmp_path / "bad.csv").write_text("file,class\na.wav,piano\n")
    with pytest.raises(DatasetError, match="needs columns path,label"):
        datasets.from_csv(tmp_path / "bad.csv")


# --- bad files, labels -------------------------------------------------------------------------------

def test_bad_files_are_reported_with_their_problem(tmp_path):
    bad = fixtures.write_bad_files(tmp_path / "x")
    bad["missing"].unlink(missing_ok=True)
    recs = datasets.from_folder(tmp_path, verify="header")
    skipped = {Path(p).name: m for p, m in recs.skipped}
    assert [Path(r.path).name for r in recs] == ["good.wav", "nan.wav"]  # NaN needs a full decode
    assert skipped["empty.wav"] == "file is empty (0 bytes)"
    assert skipped["truncated.wav"] == "WAV file is truncated inside its fmt chunk"
    assert skipped["header_only.wav"].startswith("WAV file is truncated: data chunk declares")
    assert skipped["not_audio.wav"].startswith("not a recognised audio file")
    from tfaudio.io.audio import load
    from tfaudio.errors import AudioFileError

    for name, problem in skipped.items():  # one checked decoder: the scanner says what load says
        with pytest.raises(AudioFileError) as e:
            load(tmp_path / "x" / name)
        assert e.value.problem == problem, name


def test_full_verification_finds_nan(tmp_path):
    bad = fixtures.write_bad_files(tmp_path / "x")
    recs = datasets.from_folder(tmp_path, verify="full")
    assert [Path(r.path).name for r in recs] == ["good.wav"]
    assert "nan" in dict((Path(p).name, m) for p, m in recs.skipped)["nan.wav"].lower()
    with pytest.raises(DatasetError, match=str(bad["empty"])):
        datasets.from_folder(tmp_path, strict=True)


def test_encode_labels_unknown_label(tmp_path):
    recs = [records.Record("/x/a.wav", ("piano",)), records.Record("/x/b.wav", ("banjo",))]
    with pytest.raises(DatasetError, match=r"/x/b.wav: unknown label\(s\) \['banjo'\]"):
        datasets.encode_labels(recs, ["piano"], "int")
    np.testing.assert_array_equal(datasets.encode_labels(recs[:1], ["flute", "piano"], "one_hot"), [[0, 1]])
    with pytest.raises(DatasetError, match="unknown data format"):
        datasets.load_records("msdb", tmp_path)


def test_to_dataset_decodes_in_graph(tmp_path):
    fixtures.make_medley_solos_db(tmp_path, {"clarinet": 1, "piano": 1}, seconds=0.25)
    recs = datasets.medley_solos_db(tmp_path, subset="training")
    ds = datasets.to_dataset(recs, sr=11025)
    items = list(ds.as_numpy_iterator())
    assert [int(lab) for _, lab in items] == [0, 1]
    import soundfile as sf

    for (audio, _), r in zip(items, recs):
        n = sf.info(r.path).frames  # 22050 Hz on disk
        assert audio.dtype == np.float32 and audio.shape == (int(np.ceil(n * 11025 / 22050)),)
