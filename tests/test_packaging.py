"""Installs that work outside a checkout: the experiment YAMLs ship as package data.

The slow test builds the sdist and the wheel (`python -m build`), checks them (`twine check`), installs the
wheel (not editable) into a fresh venv and runs `tfaudio --help`, `tfaudio train neuroment_mel` and
`tfaudio predict` from a folder outside the checkout.
"""
from __future__ import annotations

import configparser
import os
import subprocess
import sys
import sysconfig
import tarfile
import time
import zipfile
from pathlib import Path

import pytest

from tfaudio import cli, experiment

ROOT = Path(__file__).resolve().parents[1]
PIPELINES = sorted(p.name for p in (ROOT / "pipelines").glob("*.yaml"))


def _setup_cfg() -> configparser.ConfigParser:
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    return cfg


def test_setup_cfg_lists_every_package_and_maps_pipelines():
    from setuptools import find_packages

    cfg = _setup_cfg()
    listed = set(cfg["options"]["packages"].split())
    found = set(find_packages(str(ROOT), include=["tfaudio", "tfaudio.*", "tuning", "tuning.*"]))
    assert listed == found | {"tfaudio.pipelines"}, "setup.cfg's packages list is out of date"
    assert cfg["options"]["package_dir"].split() == ["tfaudio.pipelines", "=", "pipelines"]
    assert cfg["options.package_data"]["tfaudio.pipelines"].split() == ["*.yaml"]
    assert len(PIPELINES) >= 20


def test_find_config_takes_a_name_a_file_name_or_a_path(tmp_path):
    assert experiment.find_config("neuroment_mel") == ROOT / "pipelines" / "neuroment_mel.yaml"
    assert experiment.find_config("neuroment_mel.yaml") == ROOT / "pipelines" / "neuroment_mel.yaml"
    own = tmp_path / "mine.yaml"
    own.write_text("name: mine\n")
    assert experiment.find_config(str(own)) == own
    from tfaudio.errors import ConfigError

    with pytest.raises(ConfigError, match=r"nonesuch: config file not found; shipped experiments: .*neuroment_mel"):
        experiment.find_config("nonesuch")
    with pytest.raises(ConfigError, match="config file not found"):
        experiment.find_config("../pipelines/neuroment_mel")  # names only, never a path relative to the package


def test_find_config_prefers_the_installed_package_data(tmp_path, monkeypatch):
    """With `tfaudio/pipelines/` installed (a wheel), names resolve there, not in a checkout."""
    from importlib import resources

    packaged = tmp_path / "tfaudio"
    (packaged / "pipelines").mkdir(parents=True)
    (packaged / "pipelines" / "neuroment_mel.yaml").write_text("name: packaged\n")
    monkeypatch.setattr(resources, "files", lambda name: packaged)
    assert experiment.pipeline_dirs()[0] == packaged / "pipelines"
    assert experiment.find_config("neuroment_mel") == packaged / "pipelines" / "neuroment_mel.yaml"
    assert experiment.find_config("goel_gru") == ROOT / "pipelines" / "goel_gru.yaml"  # the checkout's still count


def test_train_list_shows_every_shipped_experiment(capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["train", "--list"])
    assert exit_.value.code == 0
    lines = capsys.readouterr().out.splitlines()
    assert [ln.split()[0] for ln in lines] == [p.removesuffix(".yaml") for p in PIPELINES]
    assert any(ln.split()[1:] == ["activation,", "activation_cnn"] for ln in lines if ln.startswith("neuroment_mel "))


# --- the wheel, installed in a fresh venv ---------------------------------------------------------------------

TINY = ["data.per_class=3", "train.epochs=1", "train.steps_per_epoch=2", "train.validation_steps=1",
        "train.batch_size=4", "train.verbose=0", "mix.n_max=2"]


def _run(cmd: list[str], cwd: Path, env: dict[str, str], timeout: float = 600) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{cmd}: exit {proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


#: Run by the fresh venv's Python: tfaudio's own requirements (no extras) that the visible versions do not meet.
_UNMET = """
from importlib.metadata import PackageNotFoundError, requires, version
from packaging.requirements import Requirement
unmet = []
for line in requires("tfaudio"):
    req = Requirement(line)
    if req.marker is not None and not req.marker.evaluate({"extra": ""}):
        continue
    try:
        if not req.specifier.contains(version(req.name), prereleases=True):
            unmet.append(f"{req} (have {version(req.name)})")
    except PackageNotFoundError:
        unmet.append(f"{req} (missing)")
print("; ".join(unmet))
"""


@pytest.mark.slow
def test_the_wheel_installs_and_runs_outside_the_checkout(tmp_path):
    """About 2 minutes on a 2-core CPU (build 10 s, venv 5 s, train 60 s, predict 20 s).

    The fresh venv (no --system-site-packages) gets the wheel itself with pip, not editable; its third-party
    dependencies are borrowed from the running environment by a path entry (no TensorFlow download or
    reinstall), and they are checked against the wheel's declared ranges (the lower bounds are the tested
    versions, so the ranges admit exactly what this suite ran with).
    """
    t0 = time.time()
    dist = tmp_path / "dist"
    # no --sdist/--wheel: the wheel is built from the sdist, which proves the sdist complete
    _run([sys.executable, "-m", "build", "--no-isolation", "--outdir", str(dist), str(ROOT)],
         ROOT, dict(os.environ))
    wheel, = dist.glob("tfaudio-*.whl")
    sdist, = dist.glob("tfaudio-*.tar.gz")
    checked = _run([sys.executable, "-m", "twine", "check", str(wheel), str(sdist)], tmp_path, dict(os.environ))
    assert checked.stdout.count("PASSED") == 2, checked.stdout
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
    assert {f"tfaudio/pipelines/{p}" for p in PIPELINES} <= names
    assert {"tfaudio/pretrained/msdb/run.json", "tuning/cli.py"} <= names
    with tarfile.open(sdist) as t:
        sdist_names = {n.split("/", 1)[1] for n in t.getnames() if "/" in n}
    assert {f"pipelines/{p}" for p in PIPELINES} <= sdist_names
    built = time.time() - t0

    venv = tmp_path / "fresh"
    _run([sys.executable, "-m", "venv", str(venv)], tmp_path, dict(os.environ))
    py, tfaudio_bin = venv / "bin" / "python", venv / "bin" / "tfaudio"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env.update(PIP_NO_INDEX="1", PIP_DISABLE_PIP_VERSION_CHECK="1", TF_CPP_MIN_LOG_LEVEL="3",
               TFAUDIO_CACHE=str(tmp_path / "cache"))
    _run([str(py), "-m", "pip", "install", "--no-deps", str(wheel)], tmp_path, env)
    site = Path(_run([str(py), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], tmp_path,
                     env).stdout.strip())
    ours = {sysconfig.get_path("purelib"), sysconfig.get_path("platlib")}
    (site / "zz_borrowed_dependencies.pth").write_text("".join(f"{p}\n" for p in sorted(ours)))
    unmet = _run([str(py), "-c", _UNMET], tmp_path, env).stdout.strip()
    assert not unmet, f"the wheel's dependency ranges are not met by the tested versions: {unmet}"

    work = tmp_path / "elsewhere"  # no checkout in sight
    work.mkdir()
    where = _run([str(py), "-c", "import tfaudio, tfaudio.experiment as e; print(tfaudio.__file__); "
                                 "print(e.find_config('neuroment_mel'))"], work, env).stdout.split()
    assert all(Path(w).is_relative_to(site / "tfaudio") for w in where), where
    assert "train" in _run([str(tfaudio_bin), "--help"], work, env).stdout
    listed = _run([str(tfaudio_bin), "train", "--list"], work, env).stdout.split("\n")
    assert sorted(ln.split()[0] for ln in listed if ln) == [p.removesuffix(".yaml") for p in PIPELINES]
    t1 = time.time()
    _run([str(tfaudio_bin), "train", "neuroment_mel", "--out", "run", *sum([["--set", s] for s in TINY], [])],
         work, env)
    assert (work / "run" / "checkpoints" / "best.keras").is_file()
    import numpy as np
    import soundfile as sf

    sf.write(work / "song.wav", 0.3 * np.sin(np.arange(22050 * 2) * 2 * np.pi * 440 / 22050), 22050)
    _run([str(tfaudio_bin), "predict", "run", "song.wav", "--out", "pred"], work, env)
    assert (work / "pred" / "song.npy").is_file() and (work / "pred" / "song.csv").is_file()
    print(f"build+check {built:.0f} s, venv+install {t1 - t0 - built:.0f} s, train+predict {time.time() - t1:.0f} s")
