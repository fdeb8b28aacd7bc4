"""The corpus of bad fleet files in tests/fleets/bad: each names the message and exit code it expects."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

BAD_DIR = Path(__file__).parent / "fleets" / "bad"


@dataclass(frozen=True)
class BadFleet:
    path: Path
    expect: str
    exit_code: int

    @property
    def id(self) -> str:
        return self.path.stem


def bad_fleets() -> list[BadFleet]:
    cases = []
    for path in sorted(BAD_DIR.glob("*.yml")):
        text = path.read_text()
        expect = re.search(r"^# expect: (.*)$", text, re.M)
        code = re.search(r"^# exit: (\d)$", text, re.M)
        assert expect and code, f"{path} lacks '# expect:' or '# exit:'"
        cases.append(BadFleet(path, expect.group(1), int(code.group(1))))
    return cases
