"""Entry points: ``python -m ebl_ref``, the ``ebl-ref`` console script and ``run.py`` are one
program, named as typed in advice lines; the package ships its embedded sample."""
import subprocess
import sys
from pathlib import Path

from ebl_ref.progname import program

ROOT = Path(__file__).resolve().parent.parent

try:
    import tomllib
except ImportError:  # Python < 3.11: the test extra installs tomli
    import tomli as tomllib


def test_program_names_what_was_typed():
    assert program("run.py") == "python run.py"
    assert program("../repo/run.py") == "python ../repo/run.py"
    assert program("/usr/local/bin/ebl-ref") == "ebl-ref"
    assert program("/x/ebl_ref/__main__.py") == "python -m ebl_ref"
    assert program("/x/ebl_ref/cli.py") == "python -m ebl_ref.cli"
    assert program("") == "python -m ebl_ref"


def test_python_m_ebl_ref_is_the_cli_from_any_folder(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "ebl_ref", "--epochs", "0"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120,
                          env={**_env(), "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith("error: --epochs must be an integer >= 1"), proc.stderr


def _env():
    import os
    return {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}


def test_pyproject_declares_the_console_script_and_every_subpackage():
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert meta["project"]["scripts"] == {"ebl-ref": "ebl_ref.cli:run_py_main"}
    setup = meta["tool"]["setuptools"]
    found = {".".join(p.parent.relative_to(ROOT).parts)
             for p in (ROOT / "ebl_ref").rglob("__init__.py")}
    assert found | {"ebl_ref._sample"} == set(setup["packages"]), "a subpackage is not installed"
    assert setup["package-dir"] == {"ebl_ref._sample": "data/fashion-mnist-sample"}
    sample = ROOT / "data" / "fashion-mnist-sample"
    assert {"train.npz", "test.npz", "SHA256SUMS"} <= {p.name for p in sample.iterdir()}
    for extra in ("threads", "tensorboard", "progress", "cuda12", "cuda13"):
        assert extra in meta["project"]["optional-dependencies"], extra
