"""``churnwatch rules check`` refuses each hostile pack quickly, in little memory, in a sentence.

The command runs as a real process so its wall time and peak memory are its own.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hostile_packs import PACKS, hostile_pack


@pytest.mark.parametrize("name", PACKS)
def test_a_hostile_pack_is_refused_within_15_s_and_600_mb(tmp_path: Path, name: str) -> None:
    pack = hostile_pack(tmp_path, name)
    out, err = tmp_path / "out", tmp_path / "err"
    started = time.monotonic()
    with out.open("w") as stdout, err.open("w") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "churnwatch", "rules", "check", str(pack)],
            stdout=stdout,
            stderr=stderr,
        )
    while True:  # wait4, not wait: the child's own peak memory comes with its exit
        pid, status, usage = os.wait4(process.pid, os.WNOHANG)
        if pid:
            break
        if time.monotonic() - started > 15:
            process.kill()
            pytest.fail(f"{name}: still checking after 15 s")
        time.sleep(0.05)
    text = err.read_text()
    assert os.waitstatus_to_exitcode(status) == 1, out.read_text() + text
    assert usage.ru_maxrss < 600 * 1024, f"{usage.ru_maxrss / 1024:.0f} MB"
    assert "Traceback" not in text
    assert "the rule set was not accepted" in text
    named = PACKS[name][4]
    assert any(f"{name}/" in line and named in line for line in text.splitlines()), text
