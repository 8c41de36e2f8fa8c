"""Per-call cost of a guard, measured against the alternatives in one process.

    python -m kwarg_guard.benchmarks.overhead [--rounds 15] [--markdown docs/performance.md]

Variants, each on a fresh copy of a tiny module whose forward does nothing, so the numbers are
the cost of the call machinery alone:

* bare      — ``module(x=..., y=...)`` with nothing installed (the reference);
* pre-hook  — ``register_forward_pre_hook(with_kwargs=True)`` doing the same filtering;
* floor     — a minimal closure on the instance: a superset check and a dict filter;
* guard     — ``kwarg_guard.guard(module)``.

Two paths: nothing to drop (``x, y``) and something to drop (``x, y, z``). Extra cost is the
variant's time minus bare's time for ``x, y``. Rounds are interleaved and the median kept, since
these machines are shared and noisy.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import statistics
import time
import timeit

import torch

from kwarg_guard import guard

ACCEPTED = frozenset({"x", "y"})


class Tiny(torch.nn.Module):
    def forward(self, x=None, y=None):
        return x


def _prehook(module, args, kwargs):
    if kwargs.keys() <= ACCEPTED:
        return None
    return args, {k: v for k, v in kwargs.items() if k in ACCEPTED}


def _install_floor(module):
    forward = module.forward

    def floor(*args, **kwargs):
        if not kwargs.keys() <= ACCEPTED:
            kwargs = {k: v for k, v in kwargs.items() if k in ACCEPTED}
        return forward(*args, **kwargs)

    module.forward = floor


def variants() -> dict:
    bare, hooked, floored, guarded = Tiny(), Tiny(), Tiny(), Tiny()
    hooked.register_forward_pre_hook(_prehook, with_kwargs=True)
    _install_floor(floored)
    guard(guarded)
    return {"bare": bare, "pre-hook": hooked, "floor": floored, "guard": guarded}


STATEMENTS = {
    ("module(...)", "nothing to drop"): "m(x=a, y=a)",
    ("module(...)", "something to drop"): "m(x=a, y=a, z=a)",
    ("module.forward(...)", "nothing to drop"): "m.forward(x=a, y=a)",
    ("module.forward(...)", "something to drop"): "m.forward(x=a, y=a, z=a)",
}


def measure(rounds: int, number: int) -> dict:
    """(variant, call, path) -> median ns per call."""
    modules = variants()
    samples: dict = {}
    for _ in range(rounds):
        for (call, path), statement in STATEMENTS.items():
            for name, module in modules.items():
                if name == "bare" and path == "something to drop":
                    continue
                if name == "pre-hook" and call == "module.forward(...)":
                    continue  # hooks never run for a direct forward call: nothing to compare
                timer = timeit.Timer(statement, globals={"m": module, "a": 1})
                samples.setdefault((name, call, path), []).append(timer.timeit(number) / number * 1e9)
    return {key: statistics.median(values) for key, values in samples.items()}


def table(results: dict) -> str:
    lines = [
        "| call | path | bare ns | pre-hook extra ns | floor extra ns | guard extra ns | guard / floor | guard / pre-hook |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for call in ("module(...)", "module.forward(...)"):
        bare = results[("bare", call, "nothing to drop")]
        for path in ("nothing to drop", "something to drop"):
            extra = {n: results[(n, call, path)] - bare for n in ("pre-hook", "floor", "guard") if (n, call, path) in results}
            hook = f"{extra['pre-hook']:.0f}" if "pre-hook" in extra else "n/a (hooks do not run)"
            ratio_hook = f"{extra['guard'] / extra['pre-hook']:.2f}" if "pre-hook" in extra else "n/a"
            lines.append(
                f"| `{call}` | {path} | {bare:.0f} | {hook} | {extra['floor']:.0f} | {extra['guard']:.0f} "
                f"| {extra['guard'] / extra['floor']:.2f} | {ratio_hook} |"
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


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--number", type=int, default=20000, help="calls per timing")
    parser.add_argument("--markdown", help="replace the table between the overhead markers in this file")
    args = parser.parse_args(argv)
    results = measure(args.rounds, args.number)
    block = (
        f"Measured {time.strftime('%Y-%m-%d')} on: {machine()}\n\n"
        f"Rounds: {args.rounds} x {args.number} calls, median.\n\n{table(results)}"
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
