"""Nothing lost, ever: folders a command did not create are never deleted or overwritten, output problems are
one line, failed runs leave nothing that looks like a run, and killed exports are cleaned up."""
from __future__ import annotations

import errno
import hashlib
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests import fixtures
from tfaudio import cli, experiment
from tfaudio.cli import common
from tfaudio.data import datasets
from tfaudio.io import outputs
from tfaudio.data.records import Record

TINY = ["data.per_class=3", "train.epochs=1", "train.steps_per_epoch=2", "train.validation_steps=1",
        "train.batch_size=4", "train.verbose=0", "mix.n_max=2"]


def _sets(items):
    return sum([["--set", s] for s in items], [])


def _tree(root: Path) -> dict[str, str]:
    """Every file under `root` with its SHA-256."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def _one_error_line(err: str, *needles: str) -> str:
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    assert len(lines) == 1, lines
    assert lines[0].startswith("tfaudio: error:") and "Traceback" not in err, lines[0]
    for n in needles:
        assert n in lines[0], (n, lines[0])
    return lines[0]


@pytest.fixture
def run(activation_run):
    return activation_run


@pytest.fixture
def user_folder(tmp_path):
    """A user's data set: class folders of WAVs and a notes file, no corpus metadata."""
    root = tmp_path / "my data"
    for cls in ("flute", "piano"):
        for k in range(2):
            fixtures.write_audio(root / cls / f"{cls}{k}.wav", fixtures.sine(330 + 110 * k, 0.3), 22050, "PCM_16")
    (root / "notes.txt").write_text("my annotations\n")
    return root


# --- 1. no command deletes or overwrites what it did not create ----------------------------------------


def test_train_never_renders_the_corpus_over_a_users_folder(user_folder, tmp_path, capsys, cache):
    """The data-loss case: data.format left at "corpus" with data.root at a real data set."""
    before = _tree(user_folder)
    code = cli.main(["train", "neuroment_mel", "--out", str(tmp_path / "r"), *_sets(TINY),
                     "--set", f"data.root={user_folder}"])
    assert code == 2
    _one_error_line(capsys.readouterr().err, str(user_folder), "data.format=folder")
    assert _tree(user_folder) == before
    assert not (tmp_path / "r").exists()
    assert not [p for p in user_folder.parent.iterdir() if p.name.startswith(".")]  # no temporary left


def test_the_corpus_renders_into_an_empty_data_root(tmp_path, cache):
    from tfaudio.experiment import load_experiment
    from tfaudio.data.sources import corpus_root

    root = tmp_path / "empty"
    root.mkdir()
    cfg = load_experiment(experiment.find_config("neuroment_mel"), ["data.per_class=3", f"data.root={root}"])
    assert corpus_root(cfg) == root and (root / datasets.MSDB_METADATA).is_file()
    assert corpus_root(cfg) == root  # rendered once, then reused


def test_corpus_render_refuses_a_non_empty_folder(user_folder, capsys):
    before = _tree(user_folder)
    assert cli.main(["corpus", "render", str(user_folder), "--per-class", "3", "-q"]) == 2
    _one_error_line(capsys.readouterr().err, str(user_folder), "not empty")
    assert _tree(user_folder) == before


def test_corpus_render_lists_the_files_it_wrote(tmp_path, capsys):
    out = tmp_path / "corpus"
    assert cli.main(["corpus", "render", str(out), "--per-class", "1", "-q"]) == 0
    files = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file() and p.name != outputs.MANIFEST}
    assert len(files) > 2 and set(_manifest_lists(out)) == files  # every file, with its size and hash
    assert outputs.foreign_entry(out) is None
    (out / "audio" / "mine.wav").write_bytes(b"RIFF")
    assert outputs.foreign_entry(out) == out / "audio" / "mine.wav"
    capsys.readouterr()


def test_guess_format_names_the_likely_layout(tmp_path, user_folder):
    assert datasets.guess_format(user_folder) == "folder"
    assert datasets.guess_format(fixtures.make_irmas(tmp_path / "irmas")) == "irmas"
    assert datasets.guess_format(fixtures.make_nsynth(tmp_path / "ns")) == "nsynth"
    assert datasets.guess_format(fixtures.make_medley_solos_db(tmp_path / "msdb")) == "medley_solos_db"
    (tmp_path / "m.csv").write_text("path,label\n")
    assert datasets.guess_format(tmp_path / "m.csv") == "csv"
    (tmp_path / "none").mkdir()
    assert datasets.guess_format(tmp_path / "none") is None


def test_train_refuses_a_non_empty_out_folder(user_folder, capsys, cache):
    before = _tree(user_folder)
    assert cli.main(["train", "neuroment_mel", "--out", str(user_folder), *_sets(TINY)]) == 2
    _one_error_line(capsys.readouterr().err, str(user_folder), "not empty")
    assert _tree(user_folder) == before


def test_demo_refuses_a_folder_it_did_not_make(user_folder, capsys):
    before = _tree(user_folder)
    assert cli.main(["demo", "--out", str(user_folder), "-q"]) == 2
    _one_error_line(capsys.readouterr().err, str(user_folder))
    assert _tree(user_folder) == before


def test_evaluate_refuses_a_report_folder_it_did_not_make(run, user_folder, capsys):
    before = _tree(user_folder)
    assert cli.main(["evaluate", str(run), "--out", str(user_folder), "--mixes", "32"]) == 2
    _one_error_line(capsys.readouterr().err, str(user_folder), "metrics.json")
    assert _tree(user_folder) == before


def test_export_refuses_a_folder_that_is_not_an_export(run, user_folder, capsys):
    before = _tree(user_folder)
    assert cli.main(["export", str(run), "--out", str(user_folder)]) == 2
    _one_error_line(capsys.readouterr().err, str(user_folder))
    assert _tree(user_folder) == before


def test_export_over_user_files_refuses_naming_one(run, tmp_path, capsys):
    """`export msdb --out E; echo x > E/notes.txt; mkdir E/mine; export irmas --out E` deleted both."""
    out = tmp_path / "E"
    assert cli.main(["export", str(run), "--out", str(out)]) == 0
    assert (out / outputs.MANIFEST).is_file()
    (out / "notes.txt").write_text("x\n")
    (out / "mine").mkdir()
    before = _tree(out)
    capsys.readouterr()
    assert cli.main(["export", "msdb", "--out", str(out)]) == 2
    line = _one_error_line(capsys.readouterr().err, str(out), "tfaudio did not write")
    assert "notes.txt" in line or "mine" in line
    assert _tree(out) == before and (out / "mine").is_dir()
    (out / "notes.txt").unlink()
    assert cli.main(["export", str(run), "--out", str(out)]) == 2  # an empty folder of the user's is theirs too
    (out / "mine").rmdir()
    (out / "variables" / "variables.index").write_bytes(b"changed by the user")
    assert cli.main(["export", str(run), "--out", str(out)]) == 2  # a changed file is no longer tfaudio's
    capsys.readouterr()


def test_export_replaces_its_own_export_and_one_written_before_manifests(run, tmp_path):
    out = tmp_path / "E"
    assert cli.main(["export", str(run), "--out", str(out)]) == 0
    assert cli.main(["export", str(run), "--out", str(out)]) == 0
    (out / outputs.MANIFEST).unlink()  # as an export of an older tfaudio
    assert cli.main(["export", str(run), "--out", str(out)]) == 0
    assert (out / outputs.MANIFEST).is_file()


def test_evaluate_refuses_a_metrics_json_it_did_not_write(run, tmp_path, capsys):
    report = tmp_path / "R"
    report.mkdir()
    (report / "metrics.json").write_text('{"mine": 1}\n')
    before = _tree(report)
    assert cli.main(["evaluate", str(run), "--out", str(report), "--mixes", "32"]) == 2
    _one_error_line(capsys.readouterr().err, str(report), "metrics.json", "tfaudio did not write")
    assert _tree(report) == before  # not replaced, and no PNG added
    (report / "metrics.json").unlink()
    assert cli.main(["evaluate", str(run), "--out", str(report), "--mixes", "32"]) == 0
    assert cli.main(["evaluate", str(run), "--out", str(report), "--mixes", "32"]) == 0  # its own report: replaced
    assert (report / outputs.MANIFEST).is_file()


def test_a_failed_evaluate_leaves_no_empty_out(run, tmp_path, capsys):
    out = tmp_path / "new" / "report"
    assert cli.main(["evaluate", str(run), "--split", "nonesuch", "--out", str(out)]) == 2
    capsys.readouterr()
    assert not (tmp_path / "new").exists()


def _manifest_lists(folder: Path) -> dict[str, str]:
    """The files `folder`'s manifest lists, with their SHA-256 (each checked against the file)."""
    files = json.loads((folder / outputs.MANIFEST).read_text())["files"]
    for name, entry in files.items():
        data = (folder / name).read_bytes()
        assert entry == {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}, name
    return {name: entry["sha256"] for name, entry in files.items()}


def test_predict_lists_what_it_wrote_in_a_manifest(run, tmp_path, capsys):
    wav = fixtures.write_audio(tmp_path / "in" / "x.wav", fixtures.sine(seconds=0.4), 22050, "PCM_16")
    out = tmp_path / "P"
    out.mkdir()
    (out / "mine.txt").write_text("a user's file next to the predictions\n")
    assert cli.main(["predict", str(run), str(wav), "--out", str(out), "--plot"]) == 0
    assert sorted(_manifest_lists(out)) == ["x.csv", "x.npy", "x.png"]  # not mine.txt
    assert cli.main(["predict", str(run), str(wav), "--out", str(out), "--overwrite"]) == 0
    # without --plot the earlier set's x.png, listed, goes with it: no old member is left beside the new ones
    assert sorted(_manifest_lists(out)) == ["x.csv", "x.npy"] and not (out / "x.png").exists()
    assert (out / "mine.txt").read_text() == "a user's file next to the predictions\n"
    assert sorted(p.name for p in out.iterdir()) == [outputs.MANIFEST, "mine.txt", "x.csv", "x.npy"]
    capsys.readouterr()


def test_predict_overwrite_refuses_a_users_file_of_the_same_name(run, tmp_path, capsys):
    wav = fixtures.write_audio(tmp_path / "in" / "x.wav", fixtures.sine(seconds=0.4), 22050, "PCM_16")
    out = tmp_path / "P"
    out.mkdir()
    (out / "x.csv").write_text("my own table\n")  # no manifest: the user's
    before = _tree(out)
    capsys.readouterr()
    assert cli.main(["predict", str(run), str(wav), "--out", str(out), "--overwrite"]) == 1
    _one_error_line(capsys.readouterr().err, str(out / "x.csv"), "tfaudio did not write")
    assert _tree(out) == before and [p.name for p in out.iterdir()] == ["x.csv"]  # nothing written at all
    (out / "x.csv").unlink()
    assert cli.main(["predict", str(run), str(wav), "--out", str(out)]) == 0
    (out / "x.npy").write_bytes((out / "x.npy").read_bytes() + b"edited")  # changed by the user: theirs now
    before = _tree(out)
    capsys.readouterr()
    assert cli.main(["predict", str(run), str(wav), "--out", str(out), "--overwrite"]) == 1
    _one_error_line(capsys.readouterr().err, str(out / "x.npy"), "tfaudio did not write")
    assert _tree(out) == before


def _full_disk(*args, **kwargs):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_predict_overwrite_on_a_full_disk_leaves_the_old_set(run, tmp_path, capsys, monkeypatch):
    """`predict --overwrite` on a full disk left a mix: new .npy and .csv beside the old .png."""
    from tfaudio.io import plots

    wav = fixtures.write_audio(tmp_path / "in" / "x.wav", fixtures.sine(seconds=0.4), 22050, "PCM_16")
    out = tmp_path / "P"
    assert cli.main(["predict", str(run), str(wav), "--out", str(out), "--plot"]) == 0
    before = _tree(out)
    fixtures.write_audio(wav, fixtures.sine(660, 1.0), 22050, "PCM_16")  # a new input: every file would change
    monkeypatch.setattr(plots, "plot_activations", _full_disk)  # the disk fills up at the last file
    capsys.readouterr()
    assert cli.main(["predict", str(run), str(wav), "--out", str(out), "--plot", "--overwrite"]) == 1
    _one_error_line(capsys.readouterr().err, str(out), "no space left")
    assert _tree(out) == before  # the old set, whole: no file of the new one
    assert not [p.name for p in out.iterdir() if p.name.startswith(".") and p.name != outputs.MANIFEST]
    monkeypatch.undo()
    assert cli.main(["predict", str(run), str(wav), "--out", str(out), "--plot", "--overwrite"]) == 0
    after = _tree(out)
    assert all(after[n] != before[n] for n in ("x.npy", "x.csv", "x.png"))  # the new set, whole


def test_a_failed_swap_puts_the_old_set_back(tmp_path, monkeypatch):
    """A failure between the renames of the swap (after one new file is in) moves everything back."""
    import numpy as np

    from tfaudio.inference import Prediction, write_prediction

    def prediction(value: float) -> Prediction:
        return Prediction("activation", ("a", "b"), 22050, 256, 22050, activations=np.full((2, 87), value, np.float32))

    write_prediction(prediction(0.25), tmp_path, "x")
    before = _tree(tmp_path)
    rename, calls = os.rename, []

    def failing_rename(src, dst):
        calls.append((src, dst))
        if len(calls) == 3:  # old x.npy aside, new x.npy in, old x.csv aside: fails
            raise OSError(errno.EIO, os.strerror(errno.EIO), str(src))
        return rename(src, dst)

    monkeypatch.setattr(os, "rename", failing_rename)
    with pytest.raises(outputs.OutputError, match="left as they were"):
        write_prediction(prediction(0.75), tmp_path, "x", overwrite=True)
    monkeypatch.undo()
    assert _tree(tmp_path) == before and sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [outputs.MANIFEST, "x.csv", "x.npy"])
    write_prediction(prediction(0.75), tmp_path, "x", overwrite=True)
    assert float(np.load(tmp_path / "x.npy").max()) == 0.75 and sorted(_manifest_lists(tmp_path)) == ["x.csv", "x.npy"]


# --- 3. output path problems are one line, and written outputs stay intact ------------------------------


@pytest.fixture
def read_only_dir(tmp_path):
    """A read-only folder: a read-only tmpfs as root (permission bits do not stop root), else chmod."""
    d = tmp_path / "ro"
    d.mkdir()
    if os.geteuid() == 0:
        if subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", str(d)],
                          capture_output=True).returncode != 0:
            pytest.skip("cannot mount a read-only tmpfs here, and root ignores permission bits")
        yield d
        subprocess.run(["umount", str(d)], check=False)
    else:
        d.chmod(0o555)
        yield d
        d.chmod(0o755)


def test_every_command_says_an_unwritable_out_in_one_line(run, read_only_dir, tmp_path, capsys):
    wav = fixtures.write_audio(tmp_path / "a.wav", fixtures.sine(seconds=0.5), 22050, "PCM_16")
    for cmd in (["predict", str(run), str(wav), "--out", str(read_only_dir / "p")],
                ["evaluate", str(run), "--out", str(read_only_dir / "e"), "--mixes", "32"],
                ["export", str(run), "--out", str(read_only_dir / "x")],
                ["train", "neuroment_mel", "--out", str(read_only_dir / "t"), *_sets(TINY)],
                ["corpus", "render", str(read_only_dir / "c"), "--per-class", "3", "-q"]):
        assert cli.main(cmd) == 2, cmd
        _one_error_line(capsys.readouterr().err, str(read_only_dir))


def test_an_out_that_is_a_file_is_one_line(run, tmp_path, capsys):
    wav = fixtures.write_audio(tmp_path / "a.wav", fixtures.sine(seconds=0.5), 22050, "PCM_16")
    afile = tmp_path / "file.txt"
    afile.write_text("mine\n")
    for cmd in (["predict", str(run), str(wav), "--out", str(afile)],
                ["predict", str(run), str(wav), "--out", str(afile / "below")],
                ["evaluate", str(run), "--out", str(afile), "--mixes", "32"],
                ["export", str(run), "--out", str(afile)],
                ["train", "neuroment_mel", "--out", str(afile), *_sets(TINY)]):
        assert cli.main(cmd) == 2, cmd
        _one_error_line(capsys.readouterr().err, str(afile))
    assert afile.read_text() == "mine\n"


def test_disk_full_keeps_the_previous_file_and_no_temporary(tmp_path, monkeypatch):
    path = outputs.write_text(tmp_path / "metrics.json", "old\n")

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(outputs.os, "fsync", full)
    with pytest.raises(outputs.OutputError, match="no space left"):
        outputs.write_text(path, "new\n")
    assert path.read_text() == "old\n" and sorted(p.name for p in tmp_path.iterdir()) == ["metrics.json"]


def test_disk_full_on_a_tiny_tmpfs_is_one_line(run, tmp_path, capsys):
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    full = tmp_path / "full"
    full.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=32k", "tmpfs", str(full)],
                      capture_output=True).returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    try:
        (full / "keep.txt").write_text("mine\n")
        wav = fixtures.write_audio(tmp_path / "long.wav", fixtures.noise(seconds=20.0), 22050, "PCM_16")
        assert cli.main(["predict", str(run), str(wav), "--out", str(full)]) == 1  # ~400 kB of CSV: no room
        _one_error_line(capsys.readouterr().err, "no space left")
        assert (full / "keep.txt").read_text() == "mine\n"
        assert not [p.name for p in full.iterdir() if p.name.startswith(".")]
    finally:
        subprocess.run(["umount", str(full)], check=False)


# --- 4., 5. errors name their split; carve-outs are stratified; failed runs leave nothing --------------


def test_unknown_split_names_it_and_the_choices(run, tmp_path, capsys):
    assert cli.main(["evaluate", str(run), "--split", "nonesuch", "--out", str(tmp_path / "e")]) == 2
    line = _one_error_line(capsys.readouterr().err, "'nonesuch'")
    for choice in ("training", "validation", "test"):
        assert choice in line
    assert not (tmp_path / "e" / "metrics.json").exists()


def test_a_missing_split_of_other_data_names_it(run, tmp_path, capsys):
    root = fixtures.make_medley_solos_db(tmp_path / "d", seconds=0.5)
    assert cli.main(["evaluate", str(run), "--data", str(root), "--split", "dev", "--out", str(tmp_path / "e")]) == 2
    _one_error_line(capsys.readouterr().err, "'dev'", "training")


def test_evaluate_names_the_split_it_used(run, tmp_path, capsys):
    assert cli.main(["evaluate", str(run), "--split", "validation", "--out", str(tmp_path / "e"), "--mixes", "32"]) == 0
    assert "validation split" in capsys.readouterr().out


def _records(n_per_class: dict[str, int]) -> list[Record]:
    return [Record(f"/x/{c}{k}.wav", (c,)) for c, n in n_per_class.items() for k in range(n)]


def test_validation_carve_out_is_stratified_and_seeded():
    recs = _records({"a": 2, "b": 3, "c": 10, "d": 1})
    for seed in range(20):
        kept, held = datasets.stratified_split(recs, 0.1, seed)
        assert sorted(r.path for r in kept + held) == sorted(r.path for r in recs)  # disjoint, complete
        assert {r.labels[0] for r in held} == {"a", "b", "c"}  # every class with >= 2 files
        assert {r.labels[0] for r in kept} == {"a", "b", "c", "d"}
        assert sum(r.labels[0] == "c" for r in held) == 1
        assert datasets.stratified_split(recs, 0.1, seed) == (kept, held)


def _manifest(tmp_path: Path, classes=("tenor saxophone", "trumpet", "flute"), per_class=4) -> Path:
    root = tmp_path / "m"
    rows = ["path,label"]
    for i, c in enumerate(classes):
        for k in range(per_class):
            name = f"{i}_{k}.wav"
            fixtures.write_audio(root / name, fixtures.sine(220 * (i + 1) + 10 * k, 1.0), 44100, "PCM_16")
            rows.append(f"{name},{c}")
    (root / "manifest.csv").write_text("\n".join(rows) + "\n")
    return root / "manifest.csv"


def test_training_on_a_manifest_without_subsets_carves_a_stratified_validation(tmp_path, cache):
    manifest = _manifest(tmp_path)
    out = tmp_path / "r"
    assert cli.main(["train", "neuroment_mel", "--out", str(out), *_sets(TINY), "--set", "data.format=csv",
                     "--set", f"data.root={manifest}"]) == 0
    carve = json.loads((out / "splits.json").read_text())
    assert carve["seed"] == 0 and carve["fraction"] == 0.1 and len(carve["validation_files"]) == 3
    assert {Path(p).name.split("_")[0] for p in carve["validation_files"]} == {"0", "1", "2"}


def test_missing_classes_name_the_split(tmp_path):
    import numpy as np

    from tfaudio.data import mixing
    from tfaudio.config import MixConfig
    from tfaudio.errors import DatasetError

    wav = fixtures.write_audio(tmp_path / "a.wav", np.full(30000, 0.1, np.float32), 44100, "PCM_16")
    with pytest.raises(DatasetError, match=r"^validation split: no audible windows for class\(es\) \['b'\]"):
        mixing.window_pool([Record(str(wav), ("a",))], ["a", "b"], 44100, MixConfig(), split="validation")


def test_a_failed_run_leaves_nothing_that_looks_like_a_run(tmp_path, capsys, cache):
    out = tmp_path / "r"
    assert cli.main(["train", "neuroment_mel", "--out", str(out), *_sets(TINY), "--set", "mix.min_rms_db=10"]) == 2
    _one_error_line(capsys.readouterr().err, "training split", "no audible windows")
    assert not out.exists()
    out.mkdir()  # an empty folder stays, emptied again
    assert cli.main(["train", "neuroment_mel", "--out", str(out), *_sets(TINY), "--set", "mix.min_rms_db=10"]) == 2
    assert out.is_dir() and not any(out.iterdir())


def test_a_run_that_fails_after_an_epoch_is_kept_and_marked(tmp_path, cache, monkeypatch):
    from tfaudio.training import train as train_mod

    out = tmp_path / "r"
    assert cli.main(["train", "neuroment_mel", "--out", str(out), *_sets(TINY)]) == 0
    assert not (out / "failed.json").exists()

    def broken(*a, **k):
        raise RuntimeError("the data went away")

    monkeypatch.setattr(train_mod, "datasets_for", broken)
    with pytest.raises(RuntimeError):
        from tfaudio.experiment import load_experiment

        cfg = load_experiment(experiment.find_config("neuroment_mel"), TINY + ["train.epochs=2"])
        train_mod.train(cfg, out, resume=True)
    assert (out / "checkpoints" / "last.keras").is_file()
    assert "the data went away" in json.loads((out / "failed.json").read_text())["error"]


# --- 6., 7. killed exports are cleaned up; --resume says where it goes on ------------------------------


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_export_cleans_up_what_a_killed_export_left(run, tmp_path, capsys):
    out = tmp_path / "exp"
    pid = _dead_pid()
    stale = tmp_path / f".exp.tmp-{pid}-abcd1234"
    (stale / "model" / "variables").mkdir(parents=True)
    (stale / "model" / "saved_model.pb").write_bytes(b"x" * 5000)
    unrelated = tmp_path / ".exp.tmp-notapid"
    unrelated.mkdir()
    assert cli.main(["export", str(run), "--out", str(out)]) == 0
    assert not stale.exists() and unrelated.exists() and (out / "saved_model.pb").is_file()
    # a kill between the two renames of a replacing export: the previous export was moved aside
    aside = tmp_path / f".exp.old-{_dead_pid()}"
    os.replace(out, aside)
    assert cli.main(["export", str(run), "--out", str(out)]) == 0
    assert not aside.exists() and (out / "saved_model.pb").is_file()


def test_export_puts_back_an_export_a_kill_moved_aside(run, tmp_path):
    from tfaudio.deploy.writing import _recover

    out = tmp_path / "exp"
    assert cli.main(["export", str(run), "--out", str(out)]) == 0
    before = _tree(out)
    aside = tmp_path / f".exp.old-{_dead_pid()}"
    os.replace(out, aside)
    _recover(out)
    assert _tree(out) == before and not aside.exists()


def test_resume_says_which_epoch_it_goes_on_from(tmp_path, cache, caplog):
    out = tmp_path / "r"
    assert cli.main(["train", "neuroment_mel", "--out", str(out), *_sets(TINY)]) == 0
    with caplog.at_level(logging.INFO, logger="tfaudio.training.train"):
        assert cli.main(["train", "neuroment_mel", "--out", str(out), *_sets(TINY), "--set", "train.epochs=2",
                         "--resume"]) == 0
    assert any("at epoch 2 of 2" in r.getMessage() for r in caplog.records), [r.getMessage() for r in caplog.records]


# --- resume resumes the run that exists (its own config.json) ------------------------------------------


def _run_copy(run: Path, tmp_path: Path) -> Path:
    import shutil

    dst = tmp_path / "run"
    shutil.copytree(run, dst)
    return dst


def _stamps(run: Path) -> dict[str, tuple[str, int]]:
    """Every file of a run with its hash and modification time (a rewrite with the same bytes shows too)."""
    return {str(p.relative_to(run)): (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
            for p in sorted(run.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("argv, needles", [
    (["neuroment_stft"], ["trained from experiment 'neuroment_mel'", "not 'neuroment_stft'"]),
    (["neuroment_mel", "--set", "features.fmin=200"], ["features.fmin"]),
    (["neuroment_mel", "--set", "model.filters=[4,4,4]", "--set", "data.per_class=4", "--set", "train.epochs=3"],
     ["data.per_class, model.filters would change it"]),
])
def test_resume_refuses_a_change_of_what_the_run_is(run, tmp_path, capsys, argv, needles):
    r = _run_copy(run, tmp_path)
    before = _stamps(r)
    assert cli.main(["train", *argv, "--out", str(r), "--resume"]) == 2
    _one_error_line(capsys.readouterr().err, str(r), *needles)
    assert _stamps(r) == before


def test_resume_with_nothing_to_do_rewrites_nothing(run, tmp_path, capsys, cache):
    r = _run_copy(run, tmp_path)
    before = _stamps(r)
    assert cli.main(["train", "neuroment_mel", "--out", str(r), "--set", "train.epochs=1", "--resume"]) == 0
    assert _stamps(r) == before


def test_a_run_lists_the_files_it_wrote_and_not_a_users_file(run, tmp_path, capsys, cache):
    r = _run_copy(run, tmp_path)

    def run_files() -> set[str]:
        return {p.relative_to(r).as_posix() for p in r.rglob("*") if p.is_file() and not p.name.startswith(".")}

    assert set(_manifest_lists(r)) == run_files()  # every file of the run, with its size and hash
    (r / "notes.txt").write_text("my notes on this run\n")
    assert cli.main(["train", "neuroment_mel", "--out", str(r), "--set", "train.epochs=2", "--resume"]) == 0
    listed = _manifest_lists(r)  # each entry checked against the file: the rewritten ones re-hashed
    assert set(listed) == run_files() - {"notes.txt"}
    capsys.readouterr()


def test_resume_continues_with_the_runs_own_config(run, tmp_path, capsys, cache, monkeypatch, caplog):
    """Started with 1 epoch of 2 steps (TINY): a resume to 2 epochs trains 2 more steps, not the YAML's 1680,
    and records the change."""
    from tfaudio.training import train as train_mod

    r = _run_copy(run, tmp_path)
    spec_before = (r / "run.json").read_bytes()
    config_before = json.loads((r / "config.json").read_text())
    real_fit = train_mod._fit

    def checked_fit(cfg, *args, **kwargs):
        assert cfg.train.steps_per_epoch == 2 and cfg.data.per_class == 3, "resume must read the run's config.json"
        return real_fit(cfg, *args, **kwargs)

    monkeypatch.setattr(train_mod, "_fit", checked_fit)
    with caplog.at_level(logging.INFO, logger="tfaudio.training"):
        assert cli.main(["train", "neuroment_mel", "--out", str(r), "--set", "train.epochs=2", "--resume"]) == 0
    assert any("train.epochs=2 (was 1)" in m.getMessage() for m in caplog.records)
    config = json.loads((r / "config.json").read_text())
    assert config == {**config_before, "train": {**config_before["train"], "epochs": 2}}
    (resumed,) = json.loads((r / "resumes.json").read_text())
    assert resumed["changes"] == {"train.epochs": {"was": 1, "now": 2}}
    assert (r / "run.json").read_bytes() == spec_before
    rows = (r / "history.csv").read_text().splitlines()
    assert [row.split(",")[0] for row in rows[1:]] == ["0", "1"]


# --- a run is owned by one process (RUN/.tfaudio.lock) ---------------------------------------------------


@pytest.fixture
def lock_holder():
    """`hold(run)`: another process that holds `run`'s lock until the test ends; returns its PID."""
    procs = []

    def hold(run: Path) -> int:
        code = ("import sys, time\nfrom tfaudio.run_folder import run_lock\n"
                "with run_lock(sys.argv[1], create=False):\n    print('locked', flush=True)\n    time.sleep(120)\n")
        proc = subprocess.Popen([sys.executable, "-c", code, str(run)], stdout=subprocess.PIPE, text=True)
        procs.append(proc)
        assert proc.stdout.readline().strip() == "locked"
        return proc.pid

    yield hold
    for proc in procs:
        proc.kill()
        proc.wait()


@pytest.mark.parametrize("command", ["train", "resume", "export"])
def test_a_locked_run_is_refused_at_once_naming_the_pid(run, tmp_path, capsys, cache, lock_holder, command):
    import time

    r = _run_copy(run, tmp_path)
    if command == "train":  # a new run whose folder another train has just made
        r = tmp_path / "new"
        r.mkdir()
    pid = lock_holder(r)
    before = _stamps(r)
    argv = {"train": ["train", "neuroment_mel", "--out", str(r), *_sets(TINY)],
            "resume": ["train", "neuroment_mel", "--out", str(r), "--set", "train.epochs=2", "--resume"],
            "export": ["export", str(r), "--out", str(tmp_path / "exported")]}[command]
    t0 = time.monotonic()
    assert cli.main(argv) == 2
    assert time.monotonic() - t0 < 10  # at once: before any data is read or model loaded
    _one_error_line(capsys.readouterr().err, str(r), f"PID {pid}")
    assert _stamps(r) == before and not (tmp_path / "exported").exists()


@pytest.mark.slow
def test_two_trains_racing_on_one_folder(tmp_path, cache):
    """Both start together to the same new --out: exactly one trains, the other fails at once naming its PID,
    and the run the winner wrote is whole (and its lock gone)."""
    cli_argv = [sys.executable, "-m", "tfaudio", "train", "neuroment_mel", *_sets(TINY)]
    assert cli.main(["train", "neuroment_mel", "--out", str(tmp_path / "warm"), *_sets(TINY)]) == 0  # the corpus
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    for attempt in range(3):
        out = tmp_path / f"race{attempt}"
        procs = [subprocess.Popen([*cli_argv, "--out", str(out)], env=env, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True) for _ in range(2)]
        results = [(p.wait(timeout=300), p.stdout.read(), p.stderr.read(), p.pid) for p in procs]
        codes = sorted(rc for rc, *_ in results)
        assert codes == [0, 2], results
        (loser,) = [r for r in results if r[0] == 2]
        (winner,) = [r for r in results if r[0] == 0]
        _one_error_line(loser[2], str(out), f"PID {winner[3]}")
        assert "run written to" in winner[1]
        assert (out / "run.json").is_file() and (out / "checkpoints" / "last.keras").is_file()
        assert not (out / ".tfaudio.lock").exists()


# --- 8. quiet start-up --------------------------------------------------------------------------------


def test_start_up_is_quiet_at_the_default_verbosity(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("TF_CPP")}
    base = [sys.executable, "-m", "tfaudio"]
    cmd = ["predict", str(tmp_path / "nonesuch"), "x.wav", "--out", str(tmp_path / "o")]
    quiet = subprocess.run(base + cmd, env=env, capture_output=True, text=True, timeout=120)
    assert quiet.returncode == 2
    _one_error_line(quiet.stderr, "not a tfaudio run folder")
    # what TensorFlow itself prints on import here comes back with -v
    bare = subprocess.run([sys.executable, "-c", "import tensorflow as tf; tf.config.list_physical_devices()"],
                          env=env, capture_output=True, text=True, timeout=120)
    loud = subprocess.run(base + ["-v"] + cmd, env=env, capture_output=True, text=True, timeout=120)
    def tf_lines(text: str) -> list[str]:
        return [ln for ln in text.splitlines() if common.TF_LOG_LINE.match(ln.encode())]

    assert loud.returncode == 2 and loud.stderr.strip().splitlines()[-1] == quiet.stderr.strip()
    assert bool(tf_lines(loud.stderr)) == bool(tf_lines(bare.stderr)), (loud.stderr, bare.stderr)


@pytest.mark.slow
def test_an_export_killed_midway_keeps_the_old_export_and_is_cleaned_up(run, tmp_path):
    import signal
    import time

    out = tmp_path / "exp"
    assert cli.main(["export", str(run), "--out", str(out)]) == 0
    before = _tree(out)
    proc = subprocess.Popen([sys.executable, "-m", "tfaudio", "export", str(run), "--out", str(out)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    try:
        while time.time() < deadline and proc.poll() is None:
            if any(p.name.startswith(".exp.tmp-") for p in tmp_path.iterdir()):
                time.sleep(0.5)  # inside tf.saved_model.save
                break
            time.sleep(0.05)
        assert proc.poll() is None, "the export ended before it could be killed"
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait()
    assert _tree(out) == before  # the previous export is intact
    assert any(p.name.startswith(".exp.tmp-") for p in tmp_path.iterdir())
    assert cli.main(["export", str(run), "--out", str(out)]) == 0
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".exp.")]
