"""Per-call cost of a guard, measured against the alternatives in one process.

    python -m kwarg_guard.benchmarks.overhead [--rounds 31] [--markdown docs/performance.md]

Variants, each on its own instance of a tiny module whose forward does nothing, so the numbers
are the cost of the call machinery alone:

* bare      — the call with nothing installed (the reference);
* pre-hook  — ``register_forward_pre_hook(with_kwargs=True)`` doing the same filtering;
* floor     — a minimal closure on the instance: one set test and a dict filter;
* guard     — ``kwarg_guard.guard(module)``.

Three guards: on a forward that names its parameters (``x, y``), ``guard(module)`` in the
default mode (``on_unknown="warn"``: the stray ``z`` is dropped, with one warning the first time
it carries a value) and ``guard(module, on_unknown="drop")``; on a forward that takes
``x, **kwargs``, ``guard(module, drop=["z"])``. Three paths each: nothing to drop (``x, y``),
something to drop (``x, y, z=1``, after its one warning) and something to drop that carries
``None`` (``x, y, z=None``: PEFT's ``labels=None`` on every step). Two ways to call:
``module(...)`` and ``module.forward(...)``.

Shared machines drift: a variant timed after another can look slower only because the machine
got busier. So every round times every variant once, in an order that rotates from round to
round, and each round yields the ratios of *extra* cost (variant minus bare, in that round)
guard / floor and guard / pre-hook. The published figure is the median of the per-round ratios.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import statistics
import time
import timeit
import warnings
from collections.abc import Callable
from typing import Any

import torch

from kwarg_guard import guard

NAMED = frozenset({"x", "y"})
DROPPED = frozenset({"z"})


class Named(torch.nn.Module):
    def forward(self, x=None, y=None):
        return x


class Open(torch.nn.Module):
    def forward(self, x=None, **kwargs):
        return x


def _named_prehook(module, args, kwargs):
    if kwargs.keys() <= NAMED:
        return None
    return args, {k: v for k, v in kwargs.items() if k in NAMED}


def _open_prehook(module, args, kwargs):
    if DROPPED.isdisjoint(kwargs):
        return None
    return args, {k: v for k, v in kwargs.items() if k not in DROPPED}


def _floor(module: torch.nn.Module, passes: Callable[[Any], bool], keep: Callable[[str], bool]) -> None:
    forward = module.forward

    def floor(*args, **kwargs):
        if not passes(kwargs):
            kwargs = {k: v for k, v in kwargs.items() if keep(k)}
        return forward(*args, **kwargs)

    module.forward = floor


def variants(forward: str) -> dict[str, torch.nn.Module]:
    """The four variants for one of ``FORWARDS``."""
    cls = Open if forward == "**kwargs" else Named
    bare, hooked, floored, guarded = cls(), cls(), cls(), cls()
    if cls is Named:
        hooked.register_forward_pre_hook(_named_prehook, with_kwargs=True)
        _floor(floored, NAMED.issuperset, NAMED.__contains__)
        guard(guarded, on_unknown="drop" if forward == "named, drop mode" else None)
    else:
        hooked.register_forward_pre_hook(_open_prehook, with_kwargs=True)
        _floor(floored, DROPPED.isdisjoint, lambda k: k not in DROPPED)
        guard(guarded, drop=sorted(DROPPED))
    return {"bare": bare, "pre-hook": hooked, "floor": floored, "guard": guarded}


FORWARDS = ("named, default mode", "named, drop mode", "**kwargs")
CALLS = {"module(...)": "m({})", "module.forward(...)": "m.forward({})"}
PATHS = {
    "nothing to drop": "x=a, y=a",
    "something to drop": "x=a, y=a, z=a",
    "something to drop, None": "x=a, y=a, z=None",
}


def _cases() -> list[tuple[str, str, str]]:
    return [(forward, call, path) for forward in FORWARDS for call in CALLS for path in PATHS]


def measure(rounds: int, number: int) -> dict[tuple[str, str, str], dict[str, list[float]]]:
    """case -> {"bare ns", "guard / floor", "guard / pre-hook", ...: one value per round}."""
    modules = {forward: variants(forward) for forward in FORWARDS}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the default guard warns once about the stray z
        for forward in FORWARDS:  # first sight of each keyword set happens once, outside the timing
            modules[forward]["guard"](x=1, y=1, z=None)
            modules[forward]["guard"](x=1, y=1, z=1)
    results: dict[tuple[str, str, str], dict[str, list[float]]] = {}
    cases = _cases()
    for index in range(rounds):
        for forward, call, path in cases:
            names = ["bare", "floor", "guard"] + (["pre-hook"] if call == "module(...)" else [])
            shift = index % len(names)
            order = names[shift:] + names[:shift]
            times = {}
            for name in order:
                statement = CALLS[call].format(PATHS["nothing to drop"] if name == "bare" else PATHS[path])
                timer = timeit.Timer(statement, globals={"m": modules[forward][name], "a": 1})
                times[name] = timer.timeit(number) / number * 1e9
            row = results.setdefault((forward, call, path), {})
            extra = {name: times[name] - times["bare"] for name in names if name != "bare"}
            row.setdefault("bare ns", []).append(times["bare"])
            for name, value in extra.items():
                row.setdefault(f"{name} extra ns", []).append(value)
            row.setdefault("guard / floor", []).append(extra["guard"] / extra["floor"])
            if "pre-hook" in extra:
                row.setdefault("guard / pre-hook", []).append(extra["guard"] / extra["pre-hook"])
    return results


def table(results: dict[tuple[str, str, str], dict[str, list[float]]]) -> str:
    lines = [
        (
            "| forward | call | path | guard / floor | middle half of rounds | guard / pre-hook | bare ns "
            "| pre-hook extra ns | floor extra ns | guard extra ns |"
        ),
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for (forward, call, path), row in results.items():
        median = {key: statistics.median(values) for key, values in row.items()}
        low, _, high = statistics.quantiles(row["guard / floor"], n=4)
        hook = f"{median['pre-hook extra ns']:.0f}" if "pre-hook extra ns" in median else "n/a (hooks do not run)"
        ratio_hook = f"{median['guard / pre-hook']:.2f}" if "guard / pre-hook" in median else "n/a"
        lines.append(
            f"| `{forward}` | `{call}` | {path} | **{median['guard / floor']:.2f}** | {low:.2f}-{high:.2f} | {ratio_hook} "
            f"| {median['bare ns']:.0f} | {hook} | {median['floor extra ns']:.0f} | {median['guard extra ns']:.0f} |"
        )
    return "\n".join(lines)


def machine() -> str:
    cpu = platform.processor() or "unknown CPU"
    try:
        with open("/proc/cpuinfo") as info:
            cpu = next(line.split(":", 1)[1].strip() for line in info if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return (
        f"{cpu}, {os.cpu_count()} cores, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}, torch {torch.__version__}"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=31)
    parser.add_argument("--number", type=int, default=20000, help="calls per timing")
    parser.add_argument("--markdown", help="replace the table between the overhead markers in this file")
    args = parser.parse_args(argv)
    results = measure(args.rounds, args.number)
    block = (
        f"Measured {time.strftime('%Y-%m-%d')} on: {machine()}\n\n"
        f"{args.rounds} interleaved rounds x {args.number} calls per variant; each column is the median "
        f"over rounds (the ratios are medians of per-round ratios).\n\n{table(results)}"
    )
    print(block)
    if args.markdown:
        with open(args.markdown) as handle:
            text = handle.read()
        pattern = re.compile(r"(<!-- overhead:begin -->\n).*?(<!-- overhead:end -->)", re.S)
        if not pattern.search(text):
            raise SystemExit(f"{args.markdown} has no <!-- overhead:begin --> ... <!-- overhead:end --> block")
        with open(args.markdown, "w") as handle:
            handle.write(pattern.sub(lambda m: m.group(1) + block + "\n" + m.group(2), text))


if __name__ == "__main__":
    main()
