"""A built wheel works as well as the editable checkout: every data file and module ships, the
version has one source, and ``latentlang leakage`` runs on the shipped questions from a plain
(non-editable) install."""

import os
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _tracked(*paths: str) -> list[str]:
    listed = subprocess.run(["git", "ls-files", "-z", *paths], cwd=ROOT, capture_output=True, check=True)
    return [p for p in listed.stdout.decode().split("\0") if p]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel built from a copy of the tracked sources (so the checkout stays clean)."""
    if not (ROOT / ".git").exists():
        pytest.skip("needs the git checkout to know which files are tracked")
    source = tmp_path_factory.mktemp("source")
    for name in _tracked("pyproject.toml", "README.md", "latentlang"):
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        (source / name).write_bytes((ROOT / name).read_bytes())
    dist = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", dist, source],
        check=True,
    )
    return next(dist.glob("latentlang-*.whl"))


def test_the_wheel_holds_every_module_and_data_file(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    missing = [name for name in _tracked("latentlang") if name not in names]
    assert not missing, f"the wheel lacks {missing}"


def test_the_version_has_one_source():
    """``__version__`` is the installed metadata's, which comes from pyproject.toml alone."""
    import tomllib

    import latentlang

    written = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert latentlang.__version__ == written
    assert not [p for p in (ROOT / "latentlang").rglob("*.py") if written in p.read_text()]


@pytest.mark.slow
def test_leakage_runs_from_a_plain_install_of_the_wheel(wheel, tiny_dir, tmp_path):
    """A fresh environment with the wheel installed (its dependencies seen from this one, whose
    editable latentlang is not): ``latentlang leakage`` runs on the shipped questions."""
    env = tmp_path / "env"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", env], check=True)
    python = env / "bin" / "python"
    site = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    # Only the directory goes on the path: its .pth files (the editable install's) are not run.
    (Path(site) / "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", python, "install", "-q", "--no-deps", "--no-index", wheel],
        check=True,
    )
    where = subprocess.run(
        [python, "-c", "import latentlang; print(latentlang.__file__)"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert where.startswith(site), where
    out = tmp_path / "out"
    command = [env / "bin" / "latentlang", "leakage", "--quiet", "--model", tiny_dir, "--langs", "en"]
    command += [
        "--framings",
        "neutral",
        "--ids",
        "family_importance,divorce",
        "--max-new-tokens",
        "2",
        "--out",
        out,
    ]
    clean = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    run = subprocess.run(
        command,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={**clean, "LATENTLANG_CACHE": str(tmp_path / "c")},
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert "en: 2 items" in run.stdout
    for name in ("result.npz", "leakage.csv", "items.csv", "leak_share.png"):
        assert (out / name).is_file(), name
