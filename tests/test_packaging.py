"""Installing the project: ``pip install -e .`` prints no warnings, and the package data is in the package.

The install goes into a fresh venv in a temporary directory, ``--no-deps --no-build-isolation --no-index``: the
dependencies would take minutes and a network, and isolation would download setuptools. The venv borrows the
test environment's pip and setuptools (a ``.pth`` naming its site-packages), so this is the same pip and
backend a ``make run`` uses, with nothing fetched.
"""

from __future__ import annotations

import site
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _venv(path: Path) -> Path:
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(path)], check=True)
    python = path / "bin" / "python"
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             check=True, capture_output=True, text=True).stdout.strip()
    (Path(purelib) / "borrowed.pth").write_text(site.getsitepackages()[0] + "\n", encoding="utf-8")
    return python


def test_an_editable_install_prints_no_warnings(tmp_path: Path) -> None:
    python = _venv(tmp_path / "venv")
    result = subprocess.run([str(python), "-m", "pip", "install", "--no-deps", "--no-build-isolation", "--no-index",
                             "--disable-pip-version-check", "-e", str(REPO)],
                            capture_output=True, text=True, cwd=tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "Successfully installed news-monitor" in output
    assert [line for line in output.splitlines() if "warn" in line.lower()] == []


def test_a_wheel_carries_the_templates_sample_data_and_migrations(tmp_path: Path) -> None:
    import zipfile

    result = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
                             "--disable-pip-version-check", "-w", str(tmp_path), str(REPO)],
                            capture_output=True, text=True, cwd=tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert [line for line in output.splitlines() if "warn" in line.lower()] == []
    (wheel,) = tmp_path.glob("news_monitor-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for expected in ("monitor/web/templates/index.html", "monitor/digest/templates", "monitor/demo/data/feeds",
                     "storage/migrations/env.py", "storage/migrations/versions/0001_initial.py",
                     "monitor/language/data/english_stop_words.txt"):
        assert any(name.startswith(expected) for name in names), expected
    assert not any(name.startswith(("tests/", "benchmarks/")) for name in names)
