"""What a forward accepts, read from its real signature.

The signature is read through ``__wrapped__`` chains (``inspect.signature`` follows them), so a
forward already wrapped by accelerate, ``functools.wraps`` or kwarg_guard itself is judged by the
function that finally runs. What the signature alone does not say is read as well:

* keywords a decorator in the chain consumes before the inner forward sees them
  (transformers 5's ``@can_return_tuple`` and ``@capture_outputs`` pop ``return_dict``): they are
  accepted, whether the decorator names them with a literal or through a closure variable
  (``@deprecate_kwarg("past_key_values", new_name="cache")``), and a decorator that moves a
  keyword to another name (``kwargs[new] = kwargs.pop(old)``) publishes a rename;
* what transformers documents for every model forward with ``**kwargs`` (``return_dict``,
  ``output_attentions``, ``output_hidden_states`` and the ``TransformersKwargs`` keys, and
  ``use_cache`` for a model with a cache): accepted;
* a ``**loss_kwargs`` (transformers 4.46) only feeds the model's loss function: it declares that
  function's keyword parameters, like a typed ``**kwargs`` declares its keys; a transformers head
  that takes ``labels`` hands its ``**kwargs`` to the same function, whose keywords it accepts too;
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
import sys
import typing
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from ._renames import siblings
from ._spelling import close_matches
from ._wrapped import innermost_function, wrapper_chain

__all__ = ["Accepted", "accepted_keywords", "qualified_name", "var_keyword_name"]

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
# Instructions that only set up a call or pad the bytecode: skipped when matching read patterns.
_FILLER = frozenset({"PUSH_NULL", "PRECALL", "NOP", "CACHE", "KW_NAMES", "COPY_FREE_VARS", "RESUME"})
_MAPPING_LOADS = ("LOAD_FAST", "LOAD_DEREF", "LOAD_CLOSURE")
# transformers documents these for every model forward (``ModelOutput`` and the
# ``TransformersKwargs`` docstring); a forward with ``**kwargs`` hands them to decorators or
# submodules that read them.
_TRANSFORMERS_MODEL_KEYWORDS = frozenset({"return_dict", "output_attentions", "output_hidden_states"})


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
        ignored: parameters this model takes but ignores (see ``Rules.ignored_without``).
        renames: ``(old, new)`` pairs a decorator around the forward applies (transformers'
            ``deprecate_kwarg``); they join the known renames for this forward.
    """

    forward: str
    named: frozenset[str]
    positional: tuple[str, ...] = ()
    var_keyword: bool = False
    declared: frozenset[str] | None = None
    consumed: frozenset[str] = frozenset()
    ignored: frozenset[str] = frozenset()
    renames: frozenset[tuple[str, str]] = frozenset()

    @property
    def takes_anything(self) -> bool:
        """A plain ``**kwargs``: every keyword is accepted and may be used."""
        return self.var_keyword and self.declared is None

    # Cached: asked for every keyword of a call seen for the first time (the fields never change).
    @cached_property
    def known(self) -> frozenset[str]:
        """Keywords the forward names: parameters, typed ``**kwargs`` keys, decorator keywords."""
        return self.named | (self.declared or frozenset()) | self.consumed

    @cached_property
    def other_names(self) -> frozenset[str]:
        """Names this forward does not take that a library renamed to or from one it does
        (``cache`` for a forward that takes ``past_key_values``): a plain ``**kwargs`` would take
        them and never use them, so they are strays however the forward ends."""
        known = self.known
        return frozenset().union(*(siblings(name, self.renames) for name in known)) - known

    def accepts(self, name: str) -> bool:
        """True when passing ``name`` cannot raise and is declared to be used."""
        return name in self.known or (self.takes_anything and name not in self.other_names)

    def suggestions(self, name: str) -> tuple[str, ...]:
        """What ``name`` was probably meant as, best first: a keyword this forward takes that
        ``name`` is a known rename of, then keywords spelt alike or made of the same words."""
        renamed = sorted(siblings(name, self.renames) & self.known)
        return (*renamed, *(match for match in close_matches(name, self.known) if match not in renamed))[:3]

    def is_rename(self, name: str, other: str) -> bool:
        """True when a library renamed ``name`` to ``other`` or back (``renames=True`` applies it)."""
        return other in siblings(name, self.renames)

    def hint(self, name: str) -> str:
        """`` (did you mean 'x'?)`` from ``suggestions``, or an empty string."""
        found = self.suggestions(name)
        return " (did you mean " + " or ".join(map(repr, found)) + "?)" if found else ""


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
    parameters = list(signature.parameters.values())
    for index, parameter in enumerate(parameters):
        # A method guarded at definition time (@kwarg_guard on `def forward(self, ...)`) gets its
        # instance by position; `self` is not a keyword anyone means to pass.
        is_instance = index == 0 and parameter.name == "self"
        if parameter.kind in _KEYWORD_KINDS and not is_instance:
            named.add(parameter.name)
        if parameter.kind in _POSITIONAL_KINDS:
            positional.append(parameter.name)
        elif parameter.kind is inspect.Parameter.VAR_KEYWORD:
            var_keyword = parameter
    name = qualified_name(fn)
    declared = None
    if var_keyword is not None:
        declared = _typed_kwargs_keys(var_keyword.annotation, fn, name)
        if declared is None and var_keyword.name == "loss_kwargs":
            declared = _loss_function_keywords(fn)
    consumed, renames = _read_by_decorators(fn)
    if var_keyword is not None and _is_transformers_model(getattr(fn, "__self__", None)):
        consumed |= _TRANSFORMERS_MODEL_KEYWORDS | _transformers_kwargs_keys()
        if _has_a_cache(fn.__self__):
            # generate() passes use_cache to every model that has one; a model that does not name
            # it hands it to one whose @merge_with_config_defaults reads it (Llava).
            consumed.add("use_cache")
        if "labels" in named:
            # A head that takes labels hands its **kwargs to self.loss_function (transformers 5:
            # shift_labels, ignore_index, num_items_in_batch reach ForCausalLMLoss).
            consumed |= _loss_function_keywords(fn) or frozenset()
    return Accepted(
        name,
        frozenset(named),
        tuple(positional),
        var_keyword is not None,
        declared,
        frozenset(consumed) - named,
        renames=frozenset(renames),
    )


def _is_transformers_model(owner: Any) -> bool:
    # By name, so that nothing is imported: a model of a library that is not loaded never matches.
    return any(
        cls.__name__ == "PreTrainedModel" and cls.__module__.startswith("transformers.") for cls in type(owner).__mro__
    )


def _has_a_cache(model: Any) -> bool:
    """A transformers model with a key/value cache: its config (or its text config) says
    ``use_cache``; an encoder's (DistilBERT's) does not, and there ``use_cache`` is ignored."""
    config = getattr(model, "config", None)
    return any(hasattr(c, "use_cache") for c in (config, getattr(config, "text_config", None)) if c is not None)


def _transformers_kwargs_keys() -> frozenset[str]:
    generic = sys.modules.get("transformers.utils.generic")
    typed_dict = getattr(generic, "TransformersKwargs", None)
    if typed_dict is None:
        return frozenset()
    return _typed_dict_keys(typed_dict)


def _loss_function_keywords(fn: Any) -> frozenset[str] | None:
    """The keyword parameters of the loss function a ``**loss_kwargs`` feeds (``None``: unknown).

    transformers 4.46's causal LMs end ``forward`` with ``self.loss_function(logits, labels,
    vocab_size, **loss_kwargs)``; the loss takes ``num_items_in_batch`` and ``ignore_index`` by
    keyword and swallows the rest in a ``**kwargs`` of its own, unused.
    """
    owner: Any = getattr(fn, "__self__", None)
    if not _is_transformers_model(owner):
        return None
    try:
        loss = owner.loss_function
        parameters = inspect.signature(loss).parameters.values()
    except Exception:  # a model whose loss cannot be looked up: judged as a plain **kwargs
        return None
    return frozenset(
        p.name for p in parameters if p.kind in _KEYWORD_KINDS and p.default is not inspect.Parameter.empty
    )


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
    return _typed_dict_keys(typed_dict)


def _typed_dict_keys(typed_dict: Any) -> frozenset[str]:
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


def _read_by_decorators(fn: Any) -> tuple[set[str], set[tuple[str, str]]]:
    """Keywords the decorators above the signature's function take for themselves, and the
    renames they apply.

    A decorator consumes a keyword when it declares it keyword-only, or reads it from its own
    ``**kwargs`` (``kwargs.pop(name, ...)``, ``kwargs.get(name)``, ``kwargs[name]``,
    ``name in kwargs``) with a name that is a literal or a closure variable holding a string
    (``deprecate_kwarg``'s ``old_name``). ``kwargs[new] = kwargs.pop(old)`` is a rename.
    """
    consumed: set[str] = set()
    renames: set[tuple[str, str]] = set()
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
            reads, moves = _mapping_reads(function, var_keyword_name(code))
            consumed.update(reads)
            renames.update(moves)
    return consumed, renames


def _keyword_only_parameters(code: Any) -> tuple[str, ...]:
    start = code.co_argcount
    return code.co_varnames[start : start + code.co_kwonlyargcount]


def var_keyword_name(code: Any) -> str:
    """The name of the ``**kwargs`` parameter of ``code`` (which must have one)."""
    index = code.co_argcount + code.co_kwonlyargcount + bool(code.co_flags & inspect.CO_VARARGS)
    return code.co_varnames[index]


def _mapping_reads(function: Any, mapping: str) -> tuple[set[str], set[tuple[str, str]]]:
    """Keys read from the local ``mapping`` in ``function``, and ``(popped, stored)`` renames.

    ``mapping`` is a fast local, or a cell when a nested function or comprehension also uses it
    (then every read of it is a ``LOAD_DEREF``).
    """
    code = function.__code__
    strings = _closure_strings(function)
    found: set[str] = set()
    renames: set[tuple[str, str]] = set()
    instructions = [i for i in dis.get_instructions(code) if i.opname not in _FILLER]

    def key(instruction: dis.Instruction) -> str | None:
        if instruction.opname == "LOAD_CONST":
            value = instruction.argval
        elif instruction.opname == "LOAD_DEREF":
            value = strings.get(instruction.argval)
        else:
            return None
        return value if isinstance(value, str) and value.isidentifier() else None

    def loads_mapping(instruction: dis.Instruction) -> bool:
        return instruction.opname.startswith(_MAPPING_LOADS) and instruction.argval == mapping

    for index, instruction in enumerate(instructions):
        following = instructions[index + 1 : index + 3]
        if len(following) < 2:
            continue
        first, second = following
        if loads_mapping(instruction):
            if first.opname in ("LOAD_METHOD", "LOAD_ATTR") and first.argval in _DICT_READS and key(second):
                found.add(key(second))  # type: ignore[arg-type]
                stored = _stored_after_pop(instructions[index + 3 : index + 7], loads_mapping, key)
                if first.argval == "pop" and stored is not None:
                    renames.add((key(second), stored))  # type: ignore[arg-type]
            elif key(first) and second.opname == "BINARY_SUBSCR":
                found.add(key(first))  # type: ignore[arg-type]
        elif key(instruction) and loads_mapping(first) and second.opname == "CONTAINS_OP":
            found.add(key(instruction))  # type: ignore[arg-type]
    return found, renames


def _stored_after_pop(
    after: list[dis.Instruction],
    loads_mapping: Callable[[dis.Instruction], bool],
    key: Callable[[dis.Instruction], str | None],
) -> str | None:
    """For ``mapping[new] = mapping.pop(old)``: ``new``, read from what follows the ``pop`` call."""
    names = [i.opname for i in after]
    if len(after) == 4 and names[0] == "CALL" and loads_mapping(after[1]) and names[3] == "STORE_SUBSCR":
        return key(after[2])
    return None


def _closure_strings(function: Any) -> dict[str, str]:
    """The free variables of ``function`` that hold strings (a decorator factory's arguments)."""
    cells = getattr(function, "__closure__", None) or ()
    values = {}
    for name, cell in zip(function.__code__.co_freevars, cells, strict=False):
        try:
            content = cell.cell_contents
        except ValueError:  # an empty cell
            continue
        if isinstance(content, str):
            values[name] = content
    return values
