"""What each sub-planner returns: its actions, blockers and warnings."""

from __future__ import annotations

from dataclasses import dataclass, field

from cargohold.model import Action


@dataclass
class Draft:
    actions: list[Action] = field(default_factory=list)
    blockers: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def targets(self) -> tuple[str, ...]:
        return tuple(a.target for a in self.actions)
