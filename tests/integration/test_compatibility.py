"""The compatibility matrix: every public case fails (or is silently ignored) unguarded, and the
guarded call equals a clean call that never had the bad keyword. docs/compatibility.md is
rendered from what these tests observe, per stack, so it cannot drift:
``KWARG_GUARD_UPDATE_DOCS=1 python envs/run.py test -k compatibility`` rewrites it."""

import os
import re

import pytest

from kwarg_guard import report
from tests.helpers import ROOT, STACK
from tests.helpers.compat_cases import CASES

DOC = ROOT / "docs" / "compatibility.md"
OBSERVED: dict = {}


def _keywords(case):
    return [k.strip() for k in case.keyword.split(",")]


def _actions(case, model) -> str:
    records = report(model)
    found = []
    for keyword in _keywords(case):
        for record in records:
            if record.keyword == keyword:
                found.append(f"'{keyword}' {record.action}" + (f" -> '{record.target}'" if record.target else ""))
    return "; ".join(dict.fromkeys(found))


@pytest.mark.parametrize("case", CASES, ids=[c.key for c in CASES])
def test_case(case):
    if STACK in case.not_applicable:
        OBSERVED[case.key] = ("n/a", case.not_applicable[STACK])
        pytest.skip(case.not_applicable[STACK])
    built = case.build()
    try:
        plain_output = built.plain()
    except TypeError as exc:
        plain_kind, plain_text = "raises", f"TypeError: {str(exc).splitlines()[0]}"
        assert any(f"'{k}'" in str(exc) for k in _keywords(case)), exc  # noqa: PT017 (the plain call is compared, not asserted to raise)
    else:
        plain_kind = None
    with built.guard():
        guarded_output = (built.guarded_call or built.plain)()
    clean_output = built.clean()
    assert built.compare(guarded_output, clean_output), "the guarded call differs from the clean call"
    actions = _actions(case, built.model)
    if plain_kind is None:
        plain_kind = "ignored" if actions else "accepted"
        correct = built.compare(plain_output, clean_output)
        plain_text = {
            "ignored": "runs; keyword silently ignored" + ("" if correct else ", wrong result"),
            "accepted": "runs; the forward takes it",
        }[plain_kind]
    assert plain_kind == case.plain_on[STACK], f"unguarded: expected {case.plain_on[STACK]}, observed {plain_text}"
    OBSERVED[case.key] = (plain_text, "equal to the clean call" + (f"; {actions}" if actions else ""))


def render(stack: str) -> str:
    lines = [
        "| case | model | wrapper / injector | keyword | unguarded | guarded | stack |",
        "|---|---|---|---|---|---|---|",
    ]
    for case in CASES:
        plain, guarded = OBSERVED[case.key]
        if plain == "n/a":
            plain, guarded = "not applicable", guarded
        cells = [case.reference, case.model, case.wrapper, f"`{case.keyword}`", plain, guarded, stack]
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    return "\n".join(lines)


def test_docs_are_generated_from_these_results():
    if set(OBSERVED) != {c.key for c in CASES}:
        pytest.skip("only part of the matrix ran (-k?): the table needs every case")
    begin, end = f"<!-- matrix:{STACK}:begin -->", f"<!-- matrix:{STACK}:end -->"
    text = DOC.read_text()
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.S)
    assert pattern.search(text), f"docs/compatibility.md has no section for the {STACK} stack"
    rendered = f"{begin}\n{render(STACK)}\n{end}"
    if os.environ.get("KWARG_GUARD_UPDATE_DOCS") == "1":
        DOC.write_text(pattern.sub(lambda _: rendered, text))
    assert pattern.search(DOC.read_text()).group(0) == rendered, (
        "docs/compatibility.md is out of date with the matrix; regenerate it with "
        "KWARG_GUARD_UPDATE_DOCS=1 python envs/run.py test -k compatibility"
    )


def test_the_matrix_holds_at_least_ten_cases_on_this_stack():
    applicable = [c for c in CASES if STACK not in c.not_applicable]
    assert len(applicable) >= 10
