"""`cargohold scale DOMAIN N` refuses bad input with exit 2 before anything happens: the fleet file
stays byte for byte as it was (the example's addresses rewritten to loopback first)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).parents[2] / "examples" / "swarm.yml"


@pytest.mark.parametrize(("args", "says"), [
    (["reports.example.org", "3"], "need 3 eligible nodes; there are 2 (web2, web3)"),
    (["www.example.org", "1"], "instances: 1: at least 2"),
    (["www.example.org", "0"], "at least 2"),
    (["nope.example.org", "3"], "no site with domain 'nope.example.org'"),
    (["www.example.org", "x"], "'x' is not a valid integer"),
    (["www.example.org", "2.5"], "is not a valid integer"),
])
def test_bad_scale_exits_2_and_leaves_the_file_alone(tmp_path: Path, args: list[str], says: str):
    fleet = tmp_path / "fleet.yml"
    text = EXAMPLE.read_text().replace("192.0.2.", "127.0.0.")
    fleet.write_text(text)
    command = Path(sys.executable).with_name("cargohold")
    result = subprocess.run([str(command), "-f", str(fleet), "scale", *args], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 2, result.stderr
    assert says in result.stderr
    assert fleet.read_text() == text
