"""What a forward accepts, read from its real signature.

The signature is read through ``__wrapped__`` chains (``inspect.signature`` follows them), so a
forward already wrapped by accelerate, ``functools.wraps`` or kwarg_guard itself is judged by the
function that finally runs. Two things the signature alone does not say are read as well:

* keywords a decorator in the chain consumes before the inner forward sees them
  (transformers 5's ``@can_return_tuple`` pops ``return_dict``): they are accepted;
* postponed annotations (``from __future__ import annotations``): ``**kwargs: Unpack[TD]`` arrives
  as a string and is resolved, without running arbitrary code, in the forward's own module.
"""

from __future__ import annotations

import ast
import builtins
import dis
import inspect
import logging
import os
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ._wrapped import innermost_function, wrapper_chain

__all__ = ["Accepted", "accepted_keywords", "qualified_name"]

LOGGER = logging.getLogger("kwarg_guard")

# On Python 3.11 typing_extensions has its own Unpack and TypedDict (transformers 5 imports them
# from there), distinct from typing's; accept both.
_UNPACK: set[Any] = {typing.Unpack}
_IS_TYPEDDICT: list[Callable[[Any], bool]] = [typing.is_typeddict]
try:
    import typing_extensions
except ImportError:  # pragma: no cover - transformers always brings it
    pass
else:
    _UNPACK.add(typing_extensions.Unpack)
    _IS_TYPEDDICT.append(typing_extensions.is_typeddict)

_KEYWORD_KINDS = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
_POSITIONAL_KINDS = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
_DICT_READS = frozenset({"pop", "get", "setdefault", "__getitem__", "__contains__"})


@dataclass(frozen=True)
class Accepted:
    """The keywords one forward takes.

    Attributes:
        forward: qualified name of the forward, for messages (``HiggsAudioModel.forward``).
        named: parameters that can be passed by keyword.
        positional: parameters that can be filled by position, in order (a remap target filled
            by position counts as given).
        var_keyword: the forward has ``**kwargs``.
        declared: when ``**kwargs`` is annotated ``Unpack[SomeTypedDict]`` (transformers 5), the
            TypedDict's keys; ``None`` for a plain ``**kwargs`` or none at all.
        consumed: keywords a decorator around the forward takes out before the forward runs.
        unused: parameters this model takes but ignores (see ``Rules.unused_unless``).
    """

    forward: str
    named: frozenset[str]
    positional: tuple[str, ...] = ()
    var_keyword: bool = False
    declared: frozenset[str] | None = None
    consumed: frozenset[str] = frozenset()
    unused: frozenset[str] = frozenset()

    @property
    def takes_anything(self) -> bool:
        """A plain ``**kwargs``: every keyword is accepted and may be used."""
        return self.var_keyword and self.declared is None

    @property
    def known(self) -> frozenset[str]:
        """Keywords the forward names: parameters, typed ``**kwargs`` keys, decorator keywords."""
        return self.named | (self.declared or frozenset()) | self.consumed

    def accepts(self, name: str) -> bool:
        """True when passing ``name`` cannot raise and is declared to be used."""
        return self.takes_anything or name in self.known


def qualified_name(fn: Any) -> str:
    """``Class.forward`` for methods and functions, the type name for other callables."""
    target = inspect.unwrap(fn, stop=lambda f: hasattr(f, "__signature__"))
    target = getattr(target, "__func__", target)
    return getattr(target, "__qualname__", None) or type(target).__qualname__


def accepted_keywords(fn: Any) -> Accepted:
    """Read which keywords ``fn`` accepts.

    Raises:
        TypeError: ``fn`` has no signature Python can read (some builtins).
    """
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError) as exc:
        raise TypeError(
            f"kwarg_guard cannot read the signature of {fn!r} ({exc}); guard a Python-level forward instead"
        ) from exc
    named, positional = set(), []
    var_keyword = None
    for parameter in signature.parameters.values():
        if parameter.kind in _KEYWORD_KINDS:
            named.add(parameter.name)
        if parameter.kind in _POSITIONAL_KINDS:
            positional.append(parameter.name)
        elif parameter.kind is inspect.Parameter.VAR_KEYWORD:
            var_keyword = parameter
    name = qualified_name(fn)
    declared = None
    if var_keyword is not None:
        declared = _typed_kwargs_keys(var_keyword.annotation, fn, name)
    consumed = frozenset(_consumed_by_decorators(fn)) - named
    return Accepted(name, frozenset(named), tuple(positional), var_keyword is not None, declared, consumed)


def _typed_kwargs_keys(annotation: Any, fn: Any, forward: str) -> frozenset[str] | None:
    """Keys of ``Unpack[TD]`` (PEP 692), walking TD's bases; ``None`` for anything else.

    transformers 5 writes ``**kwargs: Unpack[TransformersKwargs]``; the TypedDict may inherit keys
    from others, so every class in its MRO contributes its own ``__annotations__``.
    """
    if isinstance(annotation, str):
        annotation = _resolve(annotation, fn, forward)
    if typing.get_origin(annotation) not in _UNPACK:
        return None
    (typed_dict,) = typing.get_args(annotation)
    if isinstance(typed_dict, (str, typing.ForwardRef)):
        text = typed_dict if isinstance(typed_dict, str) else typed_dict.__forward_arg__
        typed_dict = _resolve(text, fn, forward)
    if not any(is_typeddict(typed_dict) for is_typeddict in _IS_TYPEDDICT):
        return None
    keys: set[str] = set()
    for cls in getattr(typed_dict, "__mro__", (typed_dict,)):
        keys.update(getattr(cls, "__annotations__", {}))
    keys.update(getattr(typed_dict, "__required_keys__", ()))
    keys.update(getattr(typed_dict, "__optional_keys__", ()))
    return frozenset(keys)


def _resolve(text: str, fn: Any, forward: str) -> Any:
    """A postponed annotation evaluated in the forward's module, or ``None`` (logged) if it cannot be.

    Only names, attributes, subscripts, tuples and constants are evaluated: an annotation is a
    type expression, and nothing in it is called.
    """
    function = innermost_function(fn)
    namespace = getattr(function, "__globals__", None) or {}
    try:
        return _evaluate(ast.parse(text, mode="eval").body, namespace)
    except Exception as exc:
        LOGGER.warning(
            "%s: could not resolve the **kwargs annotation %r (%s: %s); treating it as a plain "
            "**kwargs, which accepts every keyword",
            forward,
            text,
            type(exc).__name__,
            exc,
        )
        return None


def _evaluate(node: ast.expr, namespace: dict[str, Any]) -> Any:
    if isinstance(node, ast.Name):
        if node.id in namespace:
            return namespace[node.id]
        if hasattr(builtins, node.id):
            return getattr(builtins, node.id)
        raise NameError(f"name {node.id!r} is not defined in the forward's module")
    if isinstance(node, ast.Attribute):
        return getattr(_evaluate(node.value, namespace), node.attr)
    if isinstance(node, ast.Subscript):
        return _evaluate(node.value, namespace)[_evaluate(node.slice, namespace)]
    if isinstance(node, ast.Tuple):
        return tuple(_evaluate(element, namespace) for element in node.elts)
    if isinstance(node, ast.Constant):
        return node.value
    raise ValueError(f"{ast.unparse(node)!r} is not a plain type expression")


def _consumed_by_decorators(fn: Any) -> set[str]:
    """Keywords the decorators above the signature's function take for themselves.

    A decorator consumes a keyword when it declares it keyword-only, or reads it from its own
    ``**kwargs`` with a literal name (``kwargs.pop("return_dict", ...)``, ``kwargs.get(...)``,
    ``kwargs["..."]``, ``"..." in kwargs``).
    """
    consumed: set[str] = set()
    levels = list(wrapper_chain(fn))
    for level in levels[:-1]:  # the last level is the forward itself
        if hasattr(level, "__signature__"):
            break  # inspect.signature stopped here: what is below is not what runs first
        function = getattr(level, "__func__", level)
        code = getattr(function, "__code__", None)
        if code is None or code.co_filename.startswith(_PACKAGE_DIR):
            continue
        consumed.update(_keyword_only_parameters(code))
        if code.co_flags & inspect.CO_VARKEYWORDS:
            consumed.update(_literal_reads(code, _var_keyword_name(code)))
    return consumed


def _keyword_only_parameters(code: Any) -> tuple[str, ...]:
    start = code.co_argcount
    return code.co_varnames[start : start + code.co_kwonlyargcount]


def _var_keyword_name(code: Any) -> str:
    index = code.co_argcount + code.co_kwonlyargcount + bool(code.co_flags & inspect.CO_VARARGS)
    return code.co_varnames[index]


def _literal_reads(code: Any, mapping: str) -> set[str]:
    """Literal keys read from the local ``mapping`` in ``code`` (see ``_consumed_by_decorators``)."""
    found = set()
    instructions = [i for i in dis.get_instructions(code) if i.opname not in ("PUSH_NULL", "PRECALL", "NOP")]
    for index, instruction in enumerate(instructions):
        following = instructions[index + 1 : index + 3]
        if len(following) < 2:
            continue
        first, second = following
        if _loads(instruction, mapping):
            if first.opname in ("LOAD_METHOD", "LOAD_ATTR") and first.argval in _DICT_READS and _is_name(second):
                found.add(second.argval)
            elif _is_name(first) and second.opname == "BINARY_SUBSCR":
                found.add(first.argval)
        elif _is_name(instruction) and _loads(first, mapping) and second.opname == "CONTAINS_OP":
            found.add(instruction.argval)
    return found


def _loads(instruction: dis.Instruction, name: str) -> bool:
    return instruction.opname.startswith("LOAD_FAST") and instruction.argval == name


def _is_name(instruction: dis.Instruction) -> bool:
    return (
        instruction.opname == "LOAD_CONST" and isinstance(instruction.argval, str) and instruction.argval.isidentifier()
    )
