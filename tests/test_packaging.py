"""The distribution as a bank's platform team installs it: one wheel, one import name.

A shared image holds many tools. churnwatch must own ``churnwatch`` and nothing else, so
that PyPI's ``notifiers`` and ``rules`` (django-rules) can sit beside it; and the plain
wheel, not only the editable checkout, must carry everything the commands read at run
time (the rule pack, JSON Schemas, migrations, page templates).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.integration


#: what a build must not see: local environments, caches, and earlier builds (setuptools
#: builds in the source tree's build/, where files of an older checkout would enter the wheel)
NOT_SOURCES = shutil.ignore_patterns(
    ".git", ".venv", "build", "*.egg-info", "__pycache__", ".*_cache", "var"
)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel, built from a copy of the sources: no stale build/ files in it, and test
    processes building it at the same time (pytest-xdist) do not share a build folder."""
    source = tmp_path_factory.mktemp("source") / "churnwatch"
    shutil.copytree(REPO, source, ignore=NOT_SOURCES)
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(out), str(source)],
        check=True,
        capture_output=True,
    )
    return next(out.glob("churnwatch-*.whl"))


@pytest.fixture(scope="module")
def venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtual environment holding the wheel, its declared dependencies only, and
    PyPI's notifiers and rules.

    The test's own pip installs into it (``--python``): a venv without pip of its own, and
    no byte-compiling, take seconds instead of a minute, with the same packages resolved."""
    root = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True)
    python = str(root / "bin" / "python")
    install = [sys.executable, "-m", "pip", "--python", python, "install", "--quiet"]
    subprocess.run(
        [*install, "--no-compile", str(wheel), "notifiers", "rules"],
        check=True,
        capture_output=True,
    )
    return root


def run(venv: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CHURNWATCH_", "PYTHON"))}
    return subprocess.run(
        args,
        cwd=cwd,
        env={**env, "PATH": f"{venv / 'bin'}:{env['PATH']}"},
        capture_output=True,
        text=True,
        timeout=240,
    )


def test_the_wheel_holds_one_top_level_import_name(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    assert {n.split("/")[0] for n in names} == {
        "churnwatch",
        wheel.name.split("-py3")[0] + ".dist-info",
    }


def test_the_wheel_carries_what_the_commands_read(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    for expected in (
        "churnwatch/rules/pack/routing.yaml",
        "churnwatch/schemas/migrations/env.py",
        "churnwatch/followup/templates/alert.html.j2",
        "churnwatch/notifiers/channels/twilio_sms.py",
        "churnwatch/py.typed",
    ):
        assert expected in names
    assert any(n.startswith("churnwatch/schemas/json/") for n in names)
    assert any(n.startswith("churnwatch/schemas/migrations/versions/") for n in names)


def test_churnwatch_and_pypis_notifiers_and_rules_live_side_by_side(
    venv: Path, tmp_path: Path
) -> None:
    listed = run(venv, "churnwatch", "notifiers", "list", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert "twilio_sms" in listed.stdout
    others = run(
        venv,
        "python",
        "-c",
        "import notifiers, rules; print(notifiers.__file__); print(rules.__file__)",
        cwd=tmp_path,
    )
    assert others.returncode == 0, others.stderr
    site = str(venv / "lib")
    assert all(line.startswith(site) for line in others.stdout.split())
    assert "churnwatch" not in others.stdout


def test_the_demo_runs_from_the_plain_wheel(venv: Path, tmp_path: Path) -> None:
    demo = run(
        venv,
        "churnwatch",
        "demo",
        "--customers",
        "300",
        "--weeks",
        "3",
        "--dir",
        str(tmp_path / "demo"),
        cwd=tmp_path,
    )
    assert demo.returncode == 0, demo.stderr
    assert (tmp_path / "demo" / "churnwatch.db").is_file()
    assert "Traceback" not in demo.stderr
