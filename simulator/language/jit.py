"""``@tl.jit`` and ``kernel[grid](*args, **meta)``: Triton's launch syntax.

A :class:`JITFunction` wraps a kernel. ``kernel[grid](*args, **meta)`` launches it on the
runtime of its tensor arguments (``Runtime.launch(kernel, *args, grid=grid, **meta)``):
``grid`` is a tuple of up to three ints or a callable of the meta-parameters (a dict of
every argument by name, as Triton passes it). Parameters annotated ``tl.constexpr`` are
keywords seen by the kernel as plain values. ``pes=`` picks the target PEs; Triton's
tuning keywords (``num_warps``, ``num_stages``, ...) are accepted and ignored.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

import numpy as np

from simulator.language.context import KernelUsageError
from simulator.language.scalar import FloatScalar, IntScalar
from simulator.language.syntax import with_triton_syntax

# Launch keywords of Triton that tune GPU code generation or the launch (its backends'
# options: NVIDIA's and AMD's); nothing to model here.
TRITON_TUNING_KEYWORDS = frozenset({
    "num_warps", "num_stages", "num_ctas", "enable_fp_fusion", "maxnreg", "warmup", "debug",
    "launch_cooperative_grid", "launch_pdl", "num_buffers_warp_spec", "num_consumer_groups",
    "reg_dec_producer", "reg_inc_consumer", "waves_per_eu", "matrix_instr_nonkdim", "kpack",
    "instruction_sched_variant", "schedule_hint", "arch", "supported_fp8_dtypes",
    "extern_libs", "sanitize_overflow", "ir_override", "allowed_dot_input_precisions",
    "default_dot_input_precision", "deprecated_fp8_dot_operand_dtypes",
})  # fmt: skip


class JITFunction:
    """A kernel marked with ``@tl.jit``: callable by ``rt.launch`` and ``kernel[grid]``."""

    def __init__(self, fn: Callable[..., Any]) -> None:
        self._source_fn = fn
        self._fn: Callable[..., Any] | None = None
        # What Triton's compiler would refuse in the source (break, return in a loop):
        # raised at each launch, while ``fn`` stays readable.
        self._refusal: str | None = None
        self.__name__ = fn.__name__
        self.__doc__ = fn.__doc__
        self.signature = inspect.signature(fn)
        functools.update_wrapper(self, fn)

    @property
    def fn(self) -> Callable[..., Any]:
        """The kernel's function with Triton's meaning of ``a and b`` of tiles, ``max``
        and the rest (:func:`~simulator.language.syntax.with_triton_syntax`), made at
        first use: a module's kernels that never run cost nothing."""
        if self._fn is None:
            try:
                self._fn = with_triton_syntax(self._source_fn)
            except KernelUsageError as refusal:
                self._fn, self._refusal = self._source_fn, str(refusal)
        return self._fn

    def runnable(self) -> Callable[..., Any]:
        """:attr:`fn`, for a launch or a call: raises KernelUsageError when its source
        holds what Triton's compiler refuses."""
        fn = self.fn
        if self._refusal is not None:
            raise KernelUsageError(self._refusal)
        return fn

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Calling a kernel directly runs it in the current program (as a helper)."""
        return self.runnable()(*args, **kwargs)

    def __getitem__(self, grid: Any) -> Callable[..., Any]:
        return grid_launcher(self, grid)

    def run(self, *args: Any, grid: Any, warmup: bool = False, **meta: Any) -> Any:
        """Triton's ``kernel.run(*args, grid=grid, warmup=False, **meta)``: the launch
        ``kernel[grid](*args, **meta)``."""
        if warmup:
            return self.warmup(*args, grid=grid, **meta)
        return grid_launcher(self, grid)(*args, **meta)

    def warmup(self, *args: Any, grid: Any = None, **meta: Any) -> Any:
        """Triton compiles the kernel for a GPU here and returns its register and shared
        memory use; a simulated kernel is not compiled, so this is one clear error."""
        raise KernelUsageError(
            f"kernel {self.__name__!r}: warmup() compiles for a GPU and reports its "
            "registers and shared memory; a simulated kernel has none. Launch it with "
            "kernel[grid](...) and size a persistent grid by len(rt.device_pes)"
        )

    def check_arguments(self, args: tuple, meta: dict[str, Any]) -> None:
        """Raise KernelUsageError, at launch, for arguments the kernel cannot take (one
        missing, one too many, a keyword it has no parameter for)."""
        try:
            self.signature.bind(*args, **meta)
        except TypeError as exc:
            raise KernelUsageError(f"kernel {self.__name__!r}: {exc}") from None

    def meta_of(self, args: tuple, meta: dict[str, Any]) -> dict[str, Any]:
        """Every argument by name (what a callable grid receives); Triton's launch
        keywords (``num_warps``...) are not arguments unless the kernel names them."""
        meta = split_meta(self, meta)
        try:
            bound = self.signature.bind_partial(*args, **meta)
        except TypeError as exc:
            raise KernelUsageError(f"kernel {self.__name__!r}: {exc}") from None
        return dict(bound.arguments)

    def __repr__(self) -> str:
        return f"JITFunction({self.__name__})"


def grid_launcher(kernel: Any, grid: Any) -> Callable[..., Any]:
    """``kernel[grid]``: a function launching ``kernel`` on the runtime of its first
    device tensor argument (``Runtime.launch(kernel, *args, grid=grid, **meta)``)."""

    def launcher(*args: Any, **meta: Any) -> Any:
        runtime = next((getattr(a, "runtime", None) for a in (*args, *meta.values())
                        if getattr(a, "runtime", None) is not None), None)  # fmt: skip
        if runtime is None:
            raise KernelUsageError(
                f"{kernel.__name__}[grid](...) needs a device tensor argument to find its "
                "runtime; or use rt.launch(kernel, *args, grid=...)"
            )
        return runtime.launch(kernel, *args, grid=grid, **meta)

    return launcher


def jit(fn: Callable[..., Any] | None = None, **options: Any) -> Any:
    """Mark a kernel (``@tl.jit`` or ``@tl.jit(...)``; options are accepted and ignored)."""
    if fn is None:
        return lambda f: JITFunction(f)
    return JITFunction(fn)


def kernel_function(kernel: Any) -> Callable[..., Any]:
    """The plain function of a kernel (a JITFunction or a function)."""
    return kernel.runnable() if isinstance(kernel, JITFunction) else kernel


def typed_arguments(kernel: Any, args: tuple) -> tuple:
    """The positional arguments of a ``@tl.jit`` kernel as Triton types them: an int of a
    parameter not annotated ``tl.constexpr`` is an int32 scalar (int64 past int32's
    range), so ``n.to(tl.int64)`` works and ``n * stride`` cannot wrap unseen; a float
    one is a float32 scalar (numpy's scalars too). Plain functions get their arguments as
    given."""
    if not isinstance(kernel, JITFunction):
        return args
    parameters = list(kernel.signature.parameters.values())
    return tuple(_typed(kernel, parameters[i], value) if i < len(parameters) else value
                 for i, value in enumerate(args))  # fmt: skip


def typed_keywords(kernel: Any, meta: dict[str, Any]) -> dict[str, Any]:
    """Keyword arguments of a ``@tl.jit`` kernel typed as :func:`typed_arguments` types
    positional ones (an argument may be given by name, as Triton binds them)."""
    if not isinstance(kernel, JITFunction):
        return meta
    parameters = kernel.signature.parameters
    return {name: _typed(kernel, parameters[name], value) if name in parameters else value
            for name, value in meta.items()}  # fmt: skip


def _typed(kernel: Any, parameter: inspect.Parameter, value: Any) -> Any:
    """``value`` of ``parameter`` as Triton types a scalar argument (as given otherwise)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(
        value, (int, float, np.integer, np.floating)
    ):
        return value
    annotation = parameter.annotation  # a string under `from __future__ import annotations`
    if str(getattr(annotation, "__name__", annotation)).endswith("constexpr"):
        return value
    if isinstance(value, (float, np.floating)):
        return FloatScalar(float(value))
    return IntScalar(int(value), _int_argument_dtype(kernel, parameter.name, int(value)))


def _int_argument_dtype(kernel: Any, name: str, value: int) -> np.dtype:
    """Triton's type of an int argument: int32 if it fits, then int64, then uint64 (2**63
    to 2**64 - 1); anything wider is a KernelUsageError naming the kernel and parameter."""
    if -(2**31) <= value < 2**31:
        return np.dtype(np.int32)
    if -(2**63) <= value < 2**63:
        return np.dtype(np.int64)
    if 0 <= value < 2**64:
        return np.dtype(np.uint64)
    raise KernelUsageError(
        f"kernel {kernel.__name__!r}: argument {name} = {value} does not fit 64 bits "
        "(Triton passes ints as int32, int64 or uint64)"
    )


def split_meta(kernel: Any, meta: dict[str, Any]) -> dict[str, Any]:
    """The meta keywords the kernel takes (Triton's tuning keywords dropped unless the
    kernel has a parameter of that name)."""
    fn = kernel_function(kernel)
    try:
        names = set(inspect.signature(fn).parameters)
    except (TypeError, ValueError):
        names = set()
    return {k: v for k, v in meta.items() if k in names or k not in TRITON_TUNING_KEYWORDS}
