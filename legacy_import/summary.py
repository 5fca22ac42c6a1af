"""What an import did, per kind of row: the table the command prints, and what it skipped."""

from __future__ import annotations

from dataclasses import dataclass, field

KINDS = (
    "bots",
    "courses",
    "deployments",
    "runs",
    "  active",
    "  completed",
    "  stopped",
    "conversation lines",
    "pending delays",
    "prompts to re-send",
    "bans",
    "allow-list entries",
)
_COLUMNS = ("imported", "already there", "not mapped")


@dataclass
class Tally:
    imported: int = 0
    existing: int = 0
    unmapped: int = 0


@dataclass
class Summary:
    dry_run: bool = False
    shape: str = ""
    tallies: dict[str, Tally] = field(default_factory=lambda: {k: Tally() for k in KINDS})
    problems: list[str] = field(default_factory=list)

    def imported(self, kind: str, n: int = 1) -> None:
        self.tallies[kind].imported += n

    def existing(self, kind: str, n: int = 1) -> None:
        self.tallies[kind].existing += n

    def unmapped(self, kind: str, why: str | None = None, n: int = 1) -> None:
        self.tallies[kind].unmapped += n
        if why is not None:
            self.problems.append(why)

    def table(self, max_problems: int = 50) -> str:
        width = max(len(k) for k in KINDS)
        head = f"{'':<{width}}  " + "  ".join(f"{c:>13}" for c in _COLUMNS)
        lines = [head, "-" * len(head)]
        for kind, t in self.tallies.items():
            cells = (t.imported, t.existing, t.unmapped)
            lines.append(f"{kind:<{width}}  " + "  ".join(f"{c:>13}" for c in cells))
        title = f"ProfoChatBot import ({self.shape} database)"
        if self.dry_run:
            title += " -- DRY RUN, nothing was written"
        out = [title, "", *lines]
        if self.problems:
            out += ["", f"Not mapped ({len(self.problems)}):"]
            out += [f"- {p}" for p in self.problems[:max_problems]]
            if len(self.problems) > max_problems:
                out.append(f"- ... and {len(self.problems) - max_problems} more")
        return "\n".join(out)
