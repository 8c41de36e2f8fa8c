"""Find who passed a keyword: the frame that named it, past the frames that only forwarded ``**kwargs``.

This runs only the first time a keyword is seen, so it may read bytecode and frame locals.
"""

from __future__ import annotations

import dis
import functools
import inspect
import os
import sys
import types
from dataclasses import dataclass

from ._signature import var_keyword_name

__all__ = ["Origin", "find_origin", "user_stacklevel"]

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
_MAX_FRAMES = 64


@dataclass(frozen=True)
class Origin:
    """Where a keyword came from.

    Attributes:
        where: ``path/file.py:LINE Qual.name`` of the frame that named the keyword.
        via: the frames between it and the forward that only passed ``**kwargs`` on, in call
            order (outermost first).
    """

    where: str
    via: tuple = ()

    def __str__(self) -> str:
        if not self.via:
            return self.where
        return f"{self.where} (via {' -> '.join(self.via)})"


UNKNOWN = Origin("an unknown caller")


def find_origin(keyword: str, skip: int = 1) -> Origin:
    """Walk outward from the caller and name the frame that introduced ``keyword``.

    A frame *forwards* the keyword when its pending call is ``f(*args, **kwargs)`` and its own
    ``**kwargs`` holds the keyword; the first frame that does not forward it is the origin (it
    wrote ``labels=...`` in a call, or built the dict it unpacks).
    """
    frame: types.FrameType | None = sys._getframe(skip)
    via: list[str] = []
    for _ in range(_MAX_FRAMES):
        if frame is None:
            break
        if not _is_ours(frame):
            kind, names = _pending_call(frame.f_code, frame.f_lasti)
            if kind == "named" and keyword in names:
                return Origin(_describe(frame), tuple(reversed(via)))
            if kind == "unpack":
                if not _received_in_var_keyword(frame, keyword):
                    return Origin(_describe(frame), tuple(reversed(via)))
                if not _is_torch_call_machinery(frame):
                    via.append(_describe(frame))
            elif via:
                # The keyword reached a forwarding frame from a call that does not name it
                # (a default, a partial): the outermost forwarding frame is the best we can say.
                return Origin(via[-1], tuple(reversed(via[:-1])))
        frame = frame.f_back
    return Origin(via[-1], tuple(reversed(via[:-1]))) if via else UNKNOWN


def user_stacklevel() -> int:
    """The ``stacklevel`` for a warning issued by the caller that points at the first frame
    outside kwarg_guard and torch's module-call machinery: the line that called the model."""
    frame = sys._getframe(1)
    level = 1
    while frame.f_back is not None and (_is_ours(frame) or _is_torch_call_machinery(frame)):
        frame = frame.f_back
        level += 1
    return level


def _is_ours(frame) -> bool:
    return frame.f_code.co_filename.startswith(_PACKAGE_DIR)


def _received_in_var_keyword(frame, keyword: str) -> bool:
    code = frame.f_code
    if not code.co_flags & inspect.CO_VARKEYWORDS:
        return False
    received = frame.f_locals.get(var_keyword_name(code))
    return isinstance(received, dict) and keyword in received


def _is_torch_call_machinery(frame) -> bool:
    # nn.Module.__call__ forwards every call; naming it in each diagnostic would be noise.
    path = frame.f_code.co_filename.replace(os.sep, "/")
    return path.endswith("torch/nn/modules/module.py")


@functools.lru_cache(maxsize=4096)
def _pending_call(code, lasti: int):
    """Classify the call instruction a frame is suspended in: ``named`` with its keyword
    names, ``unpack`` for ``f(*a, **kw)``, or ``other``."""
    instructions = list(dis.get_instructions(code))
    # f_lasti may point into the inline cache entries that follow a CALL (3.11+): the pending
    # instruction is the last one that starts at or before it.
    position = max((i for i, ins in enumerate(instructions) if ins.offset <= lasti), default=None)
    if position is None:
        return "other", ()
    instruction = instructions[position]
    if instruction.opname == "CALL_FUNCTION_EX":
        return "unpack", ()
    if instruction.opname.startswith("CALL"):
        # 3.11/3.12 put the names in KW_NAMES before the call; 3.13+ load them as a constant
        # tuple right before CALL_KW.
        for previous in reversed(instructions[max(0, position - 3) : position]):
            if previous.opname == "KW_NAMES" or (instruction.opname == "CALL_KW" and previous.opname == "LOAD_CONST"):
                # 3.11's dis leaves KW_NAMES' argval unresolved; the arg indexes co_consts.
                names = code.co_consts[previous.arg] if previous.arg is not None else previous.argval
                if isinstance(names, tuple):
                    return "named", names
        return "named", ()
    return "other", ()


def _describe(frame) -> str:
    code = frame.f_code
    name = getattr(code, "co_qualname", code.co_name)
    return f"{_short_path(code.co_filename)}:{frame.f_lineno} {name}"


def _short_path(path: str) -> str:
    normalized = path.replace(os.sep, "/")
    for marker in ("/site-packages/", "/dist-packages/"):
        if marker in normalized:
            return normalized.rsplit(marker, 1)[1]
    try:
        relative = os.path.relpath(path)
    except ValueError:
        return normalized
    return normalized if relative.startswith("..") else relative.replace(os.sep, "/")
