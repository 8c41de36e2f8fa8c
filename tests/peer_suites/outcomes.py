"""Per-test outcomes from pytest's junit XML, what changed between two runs, and the docs table."""

from __future__ import annotations

import dataclasses
import xml.etree.ElementTree as ET
from pathlib import Path


@dataclasses.dataclass(frozen=True)
class Outcome:
    outcome: str  # passed, failed, error, skipped, or missing (not in that run)
    message: str = ""


@dataclasses.dataclass(frozen=True)
class Change:
    test: str
    before: str
    after: str
    message: str

    @property
    def node_id(self) -> str:
        """``Class::test`` for pytest; empty for collection errors, which have no test to rerun."""
        classname, _, name = self.test.rpartition("::")
        return f"{classname.rpartition('.')[2]}::{name}" if classname else ""

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


def read_junit(path: Path) -> dict[str, Outcome]:
    """``{"module.Class::test": Outcome}``; a run that wrote no XML (it crashed) reads as one error."""
    if not path.exists():
        return {f"<no junit XML: {path.name}>": Outcome("error", f"pytest wrote no {path}")}
    outcomes = {}
    for case in ET.parse(path).getroot().iter("testcase"):
        test = f"{case.get('classname', '')}::{case.get('name', '')}"
        outcome, message = "passed", ""
        for child in case:
            if child.tag in ("failure", "error", "skipped"):
                outcome = {"failure": "failed"}.get(child.tag, child.tag)
                message = first_line(child.get("message") or child.text or "")
                break
        outcomes[test] = Outcome(outcome, message)
    return outcomes


def first_line(text: str) -> str:
    line = next((line.strip() for line in text.splitlines() if line.strip()), "")
    return line[:300]


def changed_outcomes(before: dict[str, Outcome], after: dict[str, Outcome]) -> list[Change]:
    """Every test whose outcome differs between the two runs, or that only one of them has."""
    missing = Outcome("missing")
    return [
        Change(
            test,
            before.get(test, missing).outcome,
            after.get(test, missing).outcome,
            after.get(test, missing).message or before.get(test, missing).message,
        )
        for test in sorted(before.keys() | after.keys())
        if before.get(test, missing).outcome != after.get(test, missing).outcome
    ]


def markdown_table(results: list[dict], modes: list[str], version: str, command: str) -> str:
    header = ["family", "tests", "pass unguarded", *(f"changed: {mode}" for mode in modes)]
    rows = [
        [f"`{r['family']}`", str(r["tests"]), str(r["passed"]), *(str(len(r["modes"][m]["changed"])) for m in modes)]
        for r in results
    ]
    lines = [
        f"transformers {version}; `{command}`",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "|".join(" --- " for _ in header) + "|",
    ]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)
