"""Python syntax that Triton's code generator gives tile meaning, for ``@tl.jit`` kernels.

Triton compiles a kernel's Python source, so some Python means something else there:

- ``a and b``, ``a or b`` and ``not a`` of tiles are element-wise (``logical_and``,
  ``logical_or``, ``__not__``), as ``CodeGenerator.visit_BoolOp`` and ``visit_UnaryOp``
  make them. Python would ask each tile for one truth value. FlagGems writes masks as
  ``rows[:, None] < M and cols[None, :] < N``.
- The builtins ``min`` and ``max`` of tiles are ``tl.minimum`` and ``tl.maximum``, and
  ``print`` of tiles is ``tl.device_print`` (``CodeGenerator.builtin_namespace``); a
  ``for i in range(n)`` loop's ``i`` is an int32 scalar (``i.to(tl.int64)``).
- A dtype is Triton's ``tl.dtype``, with its methods: ``x.dtype.is_floating()``,
  ``is_fp8()``, ``is_int_signed()``, ``primitive_bitwidth``, ``fp_mantissa_width``...,
  and a dtype passed as a ``tl.constexpr`` has ``.value`` (FlagGems' ``dtype.value``).
  Dtypes here are numpy's, which cannot take methods, so those attribute reads
  (:data:`DTYPE_ATTRIBUTES`) are rewritten as ``_kb_attr(x.dtype, "is_fp8")``.

- A variable a loop carries (assigned in the loop, defined before it) keeps its type:
  Triton compiles the loop once, so ``acc = 0`` (int32) followed by ``acc += x`` (a
  float32 tile) in the loop is its compile error "Loop-carried variable acc has initial
  type int32 but is re-assigned to ...". Types are (dtype, shape), a number's as Triton
  types it (int32, float32); checked once per loop run, at the end of its first
  iteration that reaches the end (:func:`carried_type`); ``tl.static_range`` loops,
  which Triton unrolls, are not.
- A variable defined before an ``if`` on a run-time value (a tile, a program id, an int
  argument, a loop variable) keeps its type in each branch, as Triton types both; checked
  at the end of the branch the first run of each ``if`` takes (an ``if`` on a constexpr
  is static, as in Triton: its branch may change types).
- ``break``, ``continue`` and a ``return`` inside a loop are refused at launch, as
  Triton's code generator refuses them (:func:`_refuse_unsupported`).

Kernels run here as Python, so :func:`with_triton_syntax` makes the kernel's function
again from its source with those operators rewritten as calls (``_kb_and(a, lambda:
b)``: Python's own short-circuit when ``a`` is not a tile; the helpers are set in the
module's globals), and with builtins where ``min``, ``max`` and ``print`` do the above
(in the kernel's own body: a function nested in it has the module's builtins). The new
function shares the old one's globals (read live, as the module's), closure, defaults,
file and line numbers, so tracebacks and error messages name the user's lines. A
function whose source cannot be read (typed at a prompt) gets the builtins only.

``JITFunction`` remakes its kernel at first use, and the source is read and parsed only
when the bytecode holds what the rewrite changes (on CPython 3.11: a boolean operator
used as a value, ``not``, a dtype attribute's name, a loop or an ``if``;
:func:`_may_need_rewriting`), so a module's unlaunched kernels, and straight-line ones
without those, cost no parsing.
"""

from __future__ import annotations
import __future__

import ast
import builtins
import dis
import functools
import inspect
import sys
import textwrap
import types
from collections.abc import Callable
from typing import Any

import numpy as np

from simulator.language import core
from simulator.language.scalar import FloatScalar, IntScalar, LoopIndex, LoopRange


def _is_tile(value: Any) -> bool:
    return isinstance(value, core.tensor)


def _as_mask(value: Any) -> Any:
    """A tile as booleans (non-zero is true), as Triton's ``logical_and`` takes them."""
    return value if value.dtype == core.int1 else value != 0


def logical_and(x: Any, y: Any) -> core.tensor:
    """Element-wise ``x and y`` of tiles (or a tile and a number): a bool tile."""
    x, y = (_as_mask(v) if _is_tile(v) else bool(v) for v in (x, y))
    return x & y


def logical_or(x: Any, y: Any) -> core.tensor:
    """Element-wise ``x or y`` of tiles (or a tile and a number): a bool tile."""
    x, y = (_as_mask(v) if _is_tile(v) else bool(v) for v in (x, y))
    return x | y


def logical_not(x: core.tensor) -> core.tensor:
    """Element-wise ``not x`` of a tile: a bool tile."""
    return ~x if x.dtype == core.int1 else x == 0


def _boolean(python_stops_on: bool, of_tiles: Callable[[Any, Any], Any]) -> Callable:
    """``and`` (``or``) as Triton's code generator makes it: ``value and rest[0]() and
    ...`` element-wise once a tile takes part (every side evaluated, as Triton does), with
    Python's short-circuit otherwise (stopping on a false value for ``and``, a true one
    for ``or``)."""

    def boolean(value: Any, *rest: Callable[[], Any]) -> Any:
        for operand in rest:
            if _is_tile(value):
                value = of_tiles(value, operand())
            elif bool(value) is python_stops_on:
                return value
            else:
                value = operand()
                if _is_tile(value):
                    value = _as_mask(value)
        return value

    return boolean


_kb_and = _boolean(False, logical_and)
_kb_or = _boolean(True, logical_or)


def _kb_not(value: Any) -> Any:
    return logical_not(value) if _is_tile(value) else not value


def _extremum(python: Callable[..., Any], of_tiles: Callable[[Any, Any], Any]) -> Callable:
    """Python's ``min`` (``max``), or ``tl.minimum`` (``maximum``) folded over its
    arguments when one of them is a tile."""

    def extremum(*args: Any, **kwargs: Any) -> Any:
        if len(args) > 1 and any(_is_tile(a) for a in args):
            return functools.reduce(of_tiles, args)
        return python(*args, **kwargs)

    extremum.__name__ = python.__name__
    return extremum


def _print(*args: Any, **kwargs: Any) -> None:
    """Python's ``print``, or ``tl.device_print`` when a tile is printed."""
    if not any(_is_tile(a) for a in args):
        builtins.print(*args, **kwargs)
        return
    if isinstance(args[0], str):
        core.device_print(args[0], *args[1:])
    else:
        core.device_print("", *args)


# Triton's dtype names by numpy dtype, with (mantissa bits, exponent bias) of the floats.
_TRITON_NAMES = {
    core.int1: "int1", core.int8: "int8", core.int16: "int16", core.int32: "int32",
    core.int64: "int64", core.uint8: "uint8", core.uint16: "uint16", core.uint32: "uint32",
    core.uint64: "uint64", core.float16: "fp16", core.bfloat16: "bf16", core.float32: "fp32",
    core.float64: "fp64", core.float8e4nv: "fp8e4nv", core.float8e5: "fp8e5",
    core.float8e4b8: "fp8e4b8", core.float8e5b16: "fp8e5b16",
}  # fmt: skip
_FLOAT_FORMATS = {"fp16": (10, 15), "bf16": (7, 127), "fp32": (23, 127), "fp64": (52, 1023),
                  "fp8e4nv": (3, 7), "fp8e5": (2, 15), "fp8e4b8": (3, 8),
                  "fp8e5b16": (2, 16)}  # fmt: skip
_STANDARD_FLOATS = ("fp16", "bf16", "fp32", "fp64")
_SIGNED = ("int8", "int16", "int32", "int64")
_UNSIGNED = ("int1", "uint8", "uint16", "uint32", "uint64")  # Triton counts int1 unsigned


def _dtype_predicates(name: str) -> dict[str, bool]:
    """Triton's ``dtype.is_*()`` answers for the dtype Triton calls ``name``."""
    answers = {f"is_{n}": name == n for n in (*_SIGNED, *_UNSIGNED)}
    answers.update({
        "is_fp8": name.startswith("fp8"), "is_fp8e4nv": name == "fp8e4nv",
        "is_fp8e5": name == "fp8e5", "is_fp8e4b8": name == "fp8e4b8", "is_fp8e4b15": False,
        "is_fp8e5b16": name == "fp8e5b16", "is_fp16": name == "fp16", "is_bf16": name == "bf16",
        "is_fp32": name == "fp32", "is_fp64": name == "fp64",
        "is_floating": name in _FLOAT_FORMATS, "is_standard_floating": name in _STANDARD_FLOATS,
        "is_int_signed": name in _SIGNED, "is_int_unsigned": name in _UNSIGNED,
        "is_int": name in _SIGNED or name in _UNSIGNED, "is_bool": name == "int1",
        "is_block": False, "is_ptr": False, "is_void": False, "is_const": False,
    })  # fmt: skip
    return answers


def dtype_attribute(dtype: Any, attribute: str) -> Any:
    """Triton's ``tl.dtype`` attribute ``attribute`` of a numpy ``dtype``: a method for
    ``is_*`` (``is_fp8()``), a value otherwise; raises AttributeError for another name."""
    name = _TRITON_NAMES.get(dtype)
    if name is None:
        raise AttributeError(f"{dtype} is not one of Triton's dtypes")
    if attribute == "value":  # a dtype given as a tl.constexpr
        return dtype
    if attribute == "scalar":
        return dtype
    if attribute.startswith("is_"):
        answer = _dtype_predicates(name).get(attribute)
        if answer is None:
            raise AttributeError(f"tl.dtype has no method {attribute!r}")
        return lambda: answer
    bits = 1 if name == "int1" else dtype.itemsize * 8
    if attribute == "primitive_bitwidth":
        return bits
    if attribute == "int_bitwidth" and name in (*_SIGNED, *_UNSIGNED):
        return bits
    if attribute in ("fp_mantissa_width", "exponent_bias") and name in _FLOAT_FORMATS:
        return _FLOAT_FORMATS[name][attribute == "exponent_bias"]
    raise AttributeError(f"tl.dtype {name} has no attribute {attribute!r}")


# Attribute reads rewritten in kernels, for Triton's dtype API on numpy dtypes.
DTYPE_ATTRIBUTES = frozenset({
    *_dtype_predicates("fp32"), "primitive_bitwidth", "int_bitwidth", "fp_mantissa_width",
    "exponent_bias", "scalar", "value",
})  # fmt: skip


def _kb_attr(value: Any, attribute: str) -> Any:
    """``value.attribute``, or Triton's dtype API when ``value`` is a dtype."""
    if isinstance(value, np.dtype):
        return dtype_attribute(value, attribute)
    if isinstance(value, core.pointer_type) and not hasattr(value, attribute):
        if attribute.startswith("is_"):  # Triton's pointer_type: a pointer, nothing else
            return lambda: attribute == "is_ptr"
        if attribute == "primitive_bitwidth":
            return 64
    return getattr(value, attribute)


def carried_type(value: Any) -> tuple | None:
    """Triton's type of a loop-carried ``value``: (dtype, shape) of a tile or a number
    (an int is int32, int64 past its range; a float float32; a bool int1), ("pointer",
    element dtype, shape) of pointers, ("block pointer", dtype, block shape); None for
    what Triton does not carry (tuples, None...): not checked."""
    if isinstance(value, core.tensor):
        return (value.dtype, tuple(value.shape))
    if isinstance(value, (bool, np.bool_)):
        return (core.int1, ())
    if isinstance(value, (IntScalar, FloatScalar)):
        return (value.dtype, ())
    if isinstance(value, int):
        return (core.int32 if -(2**31) <= value < 2**31 else core.int64, ())
    if isinstance(value, float):
        return (core.float32, ())
    if isinstance(value, core.pointer):
        return ("pointer", value.base.element_dtype, tuple(value.shape))
    if isinstance(value, core.TensorView):
        return ("pointer", value.element_dtype, ())
    if isinstance(value, (core.block_ptr, core.block_ptr_nd)):
        return ("block pointer", value.base.element_dtype, tuple(value.block_shape))
    return None


def _type_text(kind: tuple) -> str:
    """A carried type as Triton prints one: ``fp32``, ``<[64, 64], fp16>``, ..."""
    if kind[0] in ("pointer", "block pointer"):
        name = f"{kind[0]}<{_TRITON_NAMES.get(kind[1], kind[1])}>"
        return f"<{list(kind[2])}, {name}>" if kind[2] else name
    name = _TRITON_NAMES.get(kind[0], str(kind[0]))
    return f"<{list(kind[1])}, {name}>" if kind[1] else name


def _kb_carried(scope: dict[str, Any], names: tuple[str, ...]) -> dict[str, tuple] | None:
    """The types of ``names`` defined in ``scope`` before a loop (None: none to check)."""
    types_before = {}
    for name in names:
        if name in scope:
            kind = carried_type(scope[name])
            if kind is not None:
                types_before[name] = kind
    return types_before or None


def _changed_type(types_before: dict[str, tuple], scope: dict[str, Any]) -> tuple | None:
    """(name, type before, type now) of the first variable of ``types_before`` whose type
    in ``scope`` differs, as Triton prints types; None when none does."""
    for name, before in types_before.items():
        after = carried_type(scope.get(name))
        if after is not None and after != before:
            return name, _type_text(before), _type_text(after)
    return None


def _kb_check_carried(types_before: dict[str, tuple], scope: dict[str, Any]) -> None:
    """At the end of a loop's first iteration: each carried variable still has its type
    from before the loop, else Triton's compile error. Returns None (checked once)."""
    changed = _changed_type(types_before, scope)
    if changed is not None:
        name, before, after = changed
        raise core.usage_error(
            f"loop-carried variable {name} has initial type {before} but is re-assigned to "
            f"{after} in the loop; Triton refuses this (make the type before the loop the "
            "one the loop computes, e.g. tl.zeros(..., dtype) or a .to(dtype))"
        )


# The `if` statements (by site number, one per `if` in a rewritten kernel) whose branches
# have been checked once: later runs of them cost a set lookup.
_CHECKED_IFS: set[int] = set()
_IF_SITES = iter(range(1 << 62))


def _is_runtime(value: Any) -> bool:
    """Whether an ``if`` tests a run-time value (a tile or a typed scalar: Triton builds
    both branches and types them), not a constexpr (one branch, statically)."""
    return isinstance(value, (core.tensor, IntScalar, FloatScalar, LoopIndex))


def _kb_if_types(site: int, names: tuple[str, ...]) -> dict[str, tuple] | None:
    """Before an unchecked ``if``: the types of ``names`` defined in the kernel's frame."""
    if site in _CHECKED_IFS:
        return None
    return _kb_carried(sys._getframe(1).f_locals, names)


def _kb_if_test(types_before: dict[str, tuple] | None, value: Any, site: int) -> Any:
    """The ``if``'s test, unchanged; a constexpr test's branches are not checked."""
    if types_before is not None and not _is_runtime(value):
        types_before.clear()
        _CHECKED_IFS.add(site)
    return value


def _kb_if_check(types_before: dict[str, tuple], site: int) -> None:
    """At the end of a run-time ``if``'s branch: each variable defined before it keeps
    its type, else Triton's compile error. Returns None; the site is checked (unless it
    failed: a launch again fails again)."""
    changed = _changed_type(types_before, sys._getframe(1).f_locals)
    if changed is not None:
        name, before, after = changed
        raise core.usage_error(
            f"initial value for `{name}` is of type {before}, but a branch of this if "
            f"redefines it as {after}; Triton refuses this (a run-time if keeps each "
            "variable's type: cast it in both branches, or before the if)"
        )
    _CHECKED_IFS.add(site)


KERNEL_BUILTINS: dict[str, Any] = {
    **vars(builtins),
    "range": LoopRange,  # loop variables are int32 scalars in Triton: ``i.to(tl.int64)``
    "min": _extremum(builtins.min, core.minimum),
    "max": _extremum(builtins.max, core.maximum),
    "print": _print,
}
# What the rewritten operators call. Set in the kernel's module globals: a lambda or
# function made inside a kernel takes the module's builtins, not the kernel's.
OPERATOR_HELPERS: dict[str, Any] = {"_kb_and": _kb_and, "_kb_or": _kb_or, "_kb_not": _kb_not,
                                    "_kb_attr": _kb_attr, "_kb_carried": _kb_carried,
                                    "_kb_check_carried": _kb_check_carried,
                                    "_kb_if_types": _kb_if_types, "_kb_if_test": _kb_if_test,
                                    "_kb_if_check": _kb_if_check}  # fmt: skip


class _Rewriter(ast.NodeTransformer):
    """``a and b`` -> ``_kb_and(a, lambda: b)``, ``or`` likewise, ``not a`` ->
    ``_kb_not(a)``, ``x.is_fp8`` -> ``_kb_attr(x, "is_fp8")``, and a loop's carried
    types noted before it and checked after its first iteration."""

    def __init__(self) -> None:
        self.loops = 0
        self.ifs = 0

    def visit_For(self, node: ast.For) -> Any:  # noqa: N802 - ast's name
        if _is_static_range(node.iter):  # unrolled by Triton: each iteration its own types
            self.generic_visit(node)
            return node
        return self._carried(node, _assigned_names(node.target))

    def visit_While(self, node: ast.While) -> Any:  # noqa: N802 - ast's name
        return self._carried(node, set())

    def visit_If(self, node: ast.If) -> Any:  # noqa: N802 - ast's name
        """``_kb_if_N = _kb_if_types(site, names)`` before the ``if``, its test through
        ``_kb_if_test`` (a constexpr test: nothing to check), and at the end of each
        branch ``if _kb_if_N: _kb_if_N = _kb_if_check(_kb_if_N, site)``."""
        self.generic_visit(node)
        names = _names_assigned_in([*node.body, *node.orelse], set())
        if not names:
            return node
        self.ifs += 1
        key, site = f"_kb_if_{self.ifs}", ast.Constant(next(_IF_SITES))
        before = _assign_call(key, "_kb_if_types", [site, ast.Constant(names)])
        node.test = ast.Call(ast.Name("_kb_if_test", ast.Load()),
                             [ast.Name(key, ast.Load()), node.test, site], [])  # fmt: skip
        checks = [_check_once(key, "_kb_if_check", site) for _ in range(1 + bool(node.orelse))]
        node.body.append(checks[0])
        if node.orelse:
            node.orelse.append(checks[1])
        _located([before, node.test, *checks], node)
        return [before, node]

    def _carried(self, node: ast.For | ast.While, loop_names: set[str]) -> Any:
        """``_kb_loop_N = _kb_carried(locals(), names)`` before the loop, and at the end
        of its body ``if _kb_loop_N: _kb_loop_N = _kb_check_carried(_kb_loop_N,
        locals())`` (once: the check returns None)."""
        self.generic_visit(node)
        names = _names_assigned_in(node.body, loop_names)
        if not names:
            return node
        self.loops += 1
        key = f"_kb_loop_{self.loops}"
        scope = ast.Call(ast.Name("locals", ast.Load()), [], [])
        before = _assign_call(key, "_kb_carried", [scope, ast.Constant(names)])
        check = _check_once(key, "_kb_check_carried", scope)
        node.body.append(check)
        _located([before, check], node)  # errors name the loop's line
        return [before, node]

    def visit_BoolOp(self, node: ast.BoolOp) -> ast.AST:  # noqa: N802 - ast's name
        self.generic_visit(node)
        helper = "_kb_and" if isinstance(node.op, ast.And) else "_kb_or"
        later = [ast.Lambda(args=_NO_ARGUMENTS, body=value) for value in node.values[1:]]
        call = ast.Call(ast.Name(helper, ast.Load()), [node.values[0], *later], [])
        return ast.copy_location(call, node)

    def visit_Attribute(self, node: ast.Attribute) -> ast.AST:  # noqa: N802 - ast's name
        self.generic_visit(node)
        if node.attr not in DTYPE_ATTRIBUTES or not isinstance(node.ctx, ast.Load):
            return node
        call = ast.Call(ast.Name("_kb_attr", ast.Load()), [node.value, ast.Constant(node.attr)],
                        [])  # fmt: skip
        return ast.copy_location(call, node)

    def visit_UnaryOp(self, node: ast.UnaryOp) -> ast.AST:  # noqa: N802 - ast's name
        self.generic_visit(node)
        if not isinstance(node.op, ast.Not):
            return node
        return ast.copy_location(ast.Call(ast.Name("_kb_not", ast.Load()), [node.operand], []),
                                 node)  # fmt: skip


def _names_assigned_in(statements: list[ast.stmt], exclude: set[str]) -> tuple[str, ...]:
    """The names ``statements`` bind, but those in ``exclude`` and the rewrite's own."""
    names: set[str] = set()
    for statement in statements:
        names |= _assigned_names(statement)
    return tuple(sorted(n for n in names - exclude if not n.startswith("_kb_")))


def _assign_call(key: str, helper: str, args: list[ast.expr]) -> ast.Assign:
    """``key = helper(*args)``."""
    return ast.Assign([ast.Name(key, ast.Store())],
                      ast.Call(ast.Name(helper, ast.Load()), args, []))  # fmt: skip


def _check_once(key: str, helper: str, *args: ast.expr) -> ast.If:
    """``if key: key = helper(key, *args)`` (the helper returns None: it runs once)."""
    return ast.If(ast.Name(key, ast.Load()),
                  [_assign_call(key, helper, [ast.Name(key, ast.Load()), *args])], [])  # fmt: skip


def _located(nodes: list[ast.AST], at: ast.AST) -> None:
    """Give ``nodes`` and what they hold the line of ``at`` (errors name the user's)."""
    for node in nodes:
        for part in ast.walk(node):
            ast.copy_location(part, at)


def _is_static_range(iterator: ast.expr) -> bool:
    """Whether a loop iterates ``tl.static_range(...)`` (or ``static_range(...)``)."""
    if not isinstance(iterator, ast.Call):
        return False
    func = iterator.func
    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
    return name == "static_range"


def _refuse_unsupported(definition: ast.FunctionDef, filename: str, first_line: int) -> None:
    """What Triton's code generator refuses in a kernel's own body, refused here too:
    ``break`` and ``continue`` (it has no visitor for them: "unsupported AST node type"),
    and ``return`` inside a ``for`` or ``while``. Raises KernelUsageError naming the
    kernel's file and line."""

    def where(node: ast.AST) -> str:
        return f"{filename}:{first_line + node.lineno - 1}"

    def walk(node: ast.AST, in_loop: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda,
                                  ast.ClassDef)):  # fmt: skip
                continue  # a helper's own body is not the kernel's
            if isinstance(child, (ast.Break, ast.Continue)):
                word = "break" if isinstance(child, ast.Break) else "continue"
                raise core.KernelUsageError(
                    f"kernel {definition.name!r}: `{word}` at {where(child)}: Triton's compiler "
                    f"does not support it (unsupported AST node type: {type(child).__name__}); "
                    "carry a flag and mask the loop's work instead"
                )
            if isinstance(child, ast.Return) and in_loop:
                raise core.KernelUsageError(
                    f"kernel {definition.name!r}: `return` at {where(child)}: Triton cannot have "
                    "`return` statements inside `while` or `for` statements; carry a flag "
                    "and return after the loop"
                )
            walk(child, in_loop or isinstance(child, (ast.For, ast.While)))

    walk(definition, False)


def _assigned_names(node: ast.AST) -> set[str]:
    """Names ``node`` binds (assignments, augmented ones, loop targets, ``with ... as``),
    not counting those inside functions or lambdas defined in it."""
    names: set[str] = set()
    stack = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, ast.Name) and isinstance(current.ctx, ast.Store):
            names.add(current.id)
        if current is not node and isinstance(
            current, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)
        ):
            continue
        stack.extend(ast.iter_child_nodes(current))
    return names


_FUTURE_FLAGS = 0
for _feature in __future__.all_feature_names:
    _FUTURE_FLAGS |= getattr(__future__, _feature).compiler_flag

_NO_ARGUMENTS = ast.arguments(posonlyargs=[], args=[], kwonlyargs=[], kw_defaults=[],
                              defaults=[])  # fmt: skip


def with_triton_syntax(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn`` made again with Triton's meaning of ``and``, ``or``, ``not``, ``min``,
    ``max`` and ``print`` (see the module docstring); ``fn`` itself if it is not a plain
    Python function."""
    if not isinstance(fn, types.FunctionType):
        return fn
    code = _rewritten_code(fn) or fn.__code__
    closure = fn.__closure__
    if code is not fn.__code__ and code.co_freevars:
        cells = dict(zip(fn.__code__.co_freevars, fn.__closure__ or (), strict=True))
        closure = tuple(cells[name] for name in code.co_freevars)
    module_globals = fn.__globals__
    if code is not fn.__code__:
        for name, helper in OPERATOR_HELPERS.items():
            module_globals.setdefault(name, helper)
    # A function takes its builtins from its globals' ``__builtins__`` when it is made:
    # swapped in for that instant, the kernel reads the module's globals live and finds
    # these builtins, both plain dicts (CPython's fast global lookups).
    missing = object()
    saved = module_globals.get("__builtins__", missing)
    module_globals["__builtins__"] = KERNEL_BUILTINS
    try:
        remade = types.FunctionType(code, module_globals, fn.__name__, fn.__defaults__, closure)
    finally:
        if saved is missing:
            del module_globals["__builtins__"]
        else:
            module_globals["__builtins__"] = saved
    remade.__kwdefaults__ = fn.__kwdefaults__
    remade.__annotations__ = fn.__annotations__
    remade.__qualname__ = fn.__qualname__
    remade.__doc__ = fn.__doc__
    remade.__module__ = fn.__module__
    remade.__dict__.update(fn.__dict__)
    return remade


# Opcodes of ``and``/``or`` as values and of ``not`` in CPython 3.11's bytecode (in a
# condition, ``if a and b`` jumps as ``if a`` does: a tile there has no truth value in
# Triton either).
_VALUE_BOOLEAN_OPCODES = frozenset(
    dis.opmap[name] for name in ("JUMP_IF_FALSE_OR_POP", "JUMP_IF_TRUE_OR_POP", "UNARY_NOT")
    if name in dis.opmap
)  # fmt: skip
# A loop or an ``if``: ``for``'s iteration, the backward jumps of a ``while``
# (conditional ones too: 3.11 jumps back on the loop's test), and conditional jumps.
_LOOP_OPCODES = frozenset(
    code for name, code in dis.opmap.items()
    if name == "FOR_ITER" or "BACKWARD" in name or name.startswith("POP_JUMP")
)  # fmt: skip


def _may_need_rewriting(code: types.CodeType) -> bool:
    """Whether ``code`` (or code nested in it) may hold what the rewrite changes: a read
    of a dtype attribute, or on CPython 3.11 a boolean operator used as a value (its
    bytecode scanned, so most kernels skip reading and parsing their source); True on
    other versions, whose bytecode this does not know."""
    if sys.version_info[:2] != (3, 11):
        return True
    if DTYPE_ATTRIBUTES.intersection(code.co_names):
        return True
    opcodes = code.co_code[::2]
    if _VALUE_BOOLEAN_OPCODES.intersection(opcodes) or _LOOP_OPCODES.intersection(opcodes):
        return True
    return any(_may_need_rewriting(c) for c in code.co_consts if isinstance(c, types.CodeType))


def _rewritten_code(fn: types.FunctionType) -> types.CodeType | None:
    """The code of ``fn`` with its ``and``/``or``/``not`` rewritten, or None when it has
    none or its source cannot be read and parsed as the function it made."""
    if not _may_need_rewriting(fn.__code__):
        return None
    try:
        source = textwrap.dedent(inspect.getsource(fn))
        tree = ast.parse(source)
    except (OSError, TypeError, SyntaxError, IndentationError):
        return None
    definition = tree.body[0] if len(tree.body) == 1 else None
    if not isinstance(definition, ast.FunctionDef) or definition.name != fn.__name__:
        return None
    if not any(isinstance(node, (ast.BoolOp, ast.For, ast.While, ast.If))
               or (isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not))
               or (isinstance(node, ast.Attribute) and node.attr in DTYPE_ATTRIBUTES)
               for node in ast.walk(definition)):  # fmt: skip
        return None
    _refuse_unsupported(definition, fn.__code__.co_filename, fn.__code__.co_firstlineno)
    definition.decorator_list = []
    definition = _Rewriter().visit(definition)
    # Made inside a function whose parameters are fn's free variables, the new code
    # reads them from cells, as fn does (it gets fn's own cells).
    outer = ast.FunctionDef(
        name="_kb_outer",
        args=ast.arguments(
            posonlyargs=[],
            args=[ast.arg(arg=name) for name in fn.__code__.co_freevars],
            kwonlyargs=[],
            kw_defaults=[],
            defaults=[],
        ),  # fmt: skip
        body=[definition, ast.Return(ast.Name(fn.__name__, ast.Load()))],
        decorator_list=[],
        returns=None,
    )
    module = ast.Module(body=[outer], type_ignores=[])
    ast.fix_missing_locations(module)
    ast.increment_lineno(module, fn.__code__.co_firstlineno - 1)
    flags = fn.__code__.co_flags & _FUTURE_FLAGS  # as the module was compiled
    try:
        compiled = compile(module, fn.__code__.co_filename, "exec", flags=flags,
                           dont_inherit=True)  # fmt: skip
    except (SyntaxError, ValueError):
        return None
    outer_code = next(c for c in compiled.co_consts if isinstance(c, types.CodeType))
    code = next((c for c in outer_code.co_consts
                 if isinstance(c, types.CodeType) and c.co_name == fn.__name__), None)  # fmt: skip
    if code is None or set(code.co_freevars) - set(fn.__code__.co_freevars):
        return None
    return code
