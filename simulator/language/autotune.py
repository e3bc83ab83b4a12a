"""``@triton.autotune`` and ``@triton.heuristics``: Triton's launch-time choice of
meta-parameters, over ``@tl.jit`` kernels.

- :func:`heuristics` computes meta-parameters from the launch's arguments
  (``{"EVEN_K": lambda args: args["K"] % args["BLOCK_K"] == 0}``) before each launch.
- :func:`autotune` tunes as Triton's autotuner does, on the simulated device: at the
  first launch with a new value of its ``key`` arguments (and of the tensor arguments'
  dtypes) it launches the kernel once per :class:`Config`, waits for each, and keeps the
  config whose ``kernel_ns`` (first program start to last op end) is the least; later
  launches with that key use it at once. The tuning launches are real launches on the
  simulated timeline, as on a GPU: the trace shows them, named ``kernel (autotune i/n:
  BLOCK_M=..)``, before the launch that runs the winner under the kernel's own name.
  A simulation is deterministic, so each config runs once (``warmup`` and ``rep`` are
  accepted and ignored). As in Triton, while tuning only: ``reset_to_zero`` tensors are
  zeroed before each tuning launch and once after the last, ``restore_value`` ones get
  their values back after each (host copies on the timeline), and ``pre_hook`` and
  ``post_hook`` run around each; a config's own ``pre_hook`` runs before every launch
  with it. ``prune_configs_by`` (``early_config_prune``, ``perf_model`` with ``top_k``)
  prunes as Triton does. ``best_config`` and ``configs_timings`` tell the outcome, as on
  Triton's autotuner.

Both wrap a ``@tl.jit`` kernel (or each other) and launch as it does
(``kernel[grid](*args, **meta)`` or ``rt.launch(kernel, ...)``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from simulator.language.context import KernelUsageError
from simulator.language.jit import JITFunction, grid_launcher

# Config fields that tune GPU code generation: shown in a config's text, not passed on.
_TUNING_FIELDS = ("num_warps", "num_stages", "num_ctas", "maxnreg")


class Config:
    """One point of an autotuner's search: meta-parameters ``kwargs`` (and Triton's GPU
    tuning fields, accepted and ignored by the simulator)."""

    def __init__(self, kwargs: dict[str, Any], num_warps: int = 4, num_stages: int = 3,
                 num_ctas: int = 1, maxnreg: int | None = None,
                 pre_hook: Callable[..., Any] | None = None) -> None:  # fmt: skip
        self.kwargs = dict(kwargs)
        self.num_warps = num_warps
        self.num_stages = num_stages
        self.num_ctas = num_ctas
        self.maxnreg = maxnreg
        self.pre_hook = pre_hook

    def all_kwargs(self) -> dict[str, Any]:
        """The meta-parameters with the tuning fields that are set (Triton's method)."""
        fields = {name: getattr(self, name) for name in _TUNING_FIELDS}
        return {**self.kwargs, **{k: v for k, v in fields.items() if v is not None}}

    def __str__(self) -> str:
        return ", ".join(f"{k}: {v}" for k, v in self.all_kwargs().items())

    def __repr__(self) -> str:
        return f"Config({self})"


class KernelWrapper:
    """What autotune and heuristics share: the wrapped kernel's name, signature and
    launch syntax."""

    def __init__(self, kernel: Any) -> None:
        if not isinstance(kernel, (JITFunction, KernelWrapper)):
            raise KernelUsageError(
                f"{type(self).__name__.lower()} wraps a @tl.jit kernel; put @tl.jit (or "
                f"@triton.jit) below it, got {type(kernel).__name__}"
            )
        self.kernel = kernel
        self.__name__ = kernel.__name__
        self.__doc__ = kernel.__doc__
        self.signature = kernel.signature

    @property
    def fn(self) -> Any:
        """The wrapped kernel, as Triton's ``Autotuner.fn``: ``tuned.fn[grid](...,
        BLOCK=64)`` launches it with pinned meta-parameters, skipping the tuning."""
        return self.kernel

    def meta_of(self, args: tuple, meta: dict[str, Any]) -> dict[str, Any]:
        """Every argument by name (what a callable grid and a heuristic receive)."""
        return self.kernel.meta_of(args, meta)

    def __getitem__(self, grid: Any) -> Callable[..., Any]:
        return grid_launcher(self, grid)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Calling it directly runs the kernel in the current program (as a helper)."""
        return self.kernel(*args, **kwargs)

    def launch(self, runtime: Any, args: tuple, options: dict[str, Any],
               meta: dict[str, Any]) -> Any:  # fmt: skip
        """Launch on ``runtime`` (``options``: grid, pes, name, barrier, coll_id)."""
        raise NotImplementedError


class Heuristics(KernelWrapper):
    """``@triton.heuristics(values)``: each value's function of the arguments by name
    gives the meta-parameter of its name, at every launch."""

    def __init__(self, kernel: Any, values: dict[str, Callable[[dict[str, Any]], Any]]) -> None:
        super().__init__(kernel)
        self.values = dict(values)

    def launch(self, runtime: Any, args: tuple, options: dict[str, Any],
               meta: dict[str, Any]) -> Any:  # fmt: skip
        named = self.meta_of(args, meta)
        meta = dict(meta)
        for name, heuristic in self.values.items():
            meta[name] = named[name] = heuristic(named)
        return runtime.launch(self.kernel, *args, **options, **meta)


class Autotuner(KernelWrapper):
    """``@triton.autotune(configs, key, ...)``: see the module docstring."""

    def __init__(
        self,
        kernel: Any,
        configs: Sequence[Config],
        key: Sequence[str],
        prune_configs_by: dict[str, Any] | None = None,
        reset_to_zero: Sequence[str] | None = None,
        restore_value: Sequence[str] | None = None,
        pre_hook: Callable[..., Any] | None = None,
        post_hook: Callable[..., Any] | None = None,
    ) -> None:
        super().__init__(kernel)
        self.configs = list(configs) or [Config({})]
        for config in self.configs:
            if not isinstance(config, Config):
                raise KernelUsageError(
                    f"autotune of {self.__name__}: configs must be triton.Config, got "
                    f"{type(config).__name__}"
                )
        self.key = list(key)
        names = set(self.signature.parameters)
        for name in (*self.key, *(reset_to_zero or ()), *(restore_value or ())):
            if name not in names:
                raise KernelUsageError(f"autotune of {self.__name__}: {name!r} is not an "
                                       f"argument of the kernel ({', '.join(names)})")  # fmt: skip
        prune = prune_configs_by or {}
        self.early_config_prune = prune.get("early_config_prune")
        self.perf_model = prune.get("perf_model")
        self.top_k = prune.get("top_k", 1.0)
        self.reset_to_zero = list(reset_to_zero or ())
        self.restore_value = list(restore_value or ())
        self.pre_hook = pre_hook
        self.post_hook = post_hook
        self.cache: dict[tuple, Config] = {}
        self.best_config: Config | None = None
        self.configs_timings: dict[Config, float] = {}
        """Each tuned config's ``kernel_ns`` at the last tuning."""

    def launch(self, runtime: Any, args: tuple, options: dict[str, Any],
               meta: dict[str, Any]) -> Any:  # fmt: skip
        named = self.meta_of(args, meta)
        for config in self.configs:
            clash = sorted(set(config.kwargs) & set(meta))
            if clash:
                raise KernelUsageError(
                    f"{self.__name__}: meta-parameters {clash} are given at launch and "
                    "by the autotuner's configs; drop them from the launch"
                )
        key = self._key(named)
        best = self.cache.get(key)
        if best is None:
            best = self.cache[key] = self._tune(runtime, args, options, meta, named)
        self.best_config = best
        return self._run(runtime, args, options, meta, best, options.get("name"))

    def _key(self, named: dict[str, Any]) -> tuple:
        """The values of the ``key`` arguments and the dtypes of every tensor argument."""
        values = tuple(_key_value(named[name]) for name in self.key if name in named)
        dtypes = tuple(str(v.dtype) for v in named.values() if hasattr(v, "shards"))
        return values + dtypes

    def _pruned(self, named: dict[str, Any]) -> list[Config]:
        configs = self.configs
        if self.early_config_prune is not None:
            configs = list(self.early_config_prune(configs, named))
        if self.perf_model is not None:
            top_k = self.top_k
            if isinstance(top_k, float) and top_k <= 1.0:
                top_k = int(len(configs) * top_k)
            if len(configs) > top_k > 0:
                estimate = {id(c): self.perf_model(**named, **c.all_kwargs()) for c in configs}
                configs = sorted(configs, key=lambda c: estimate[id(c)])[:top_k]
        if not configs:
            raise KernelUsageError(f"autotune of {self.__name__}: pruning left no config")
        return configs

    def _tune(self, runtime: Any, args: tuple, options: dict[str, Any], meta: dict[str, Any],
              named: dict[str, Any]) -> Config:  # fmt: skip
        configs = self._pruned(named)
        if len(self.configs) == 1:  # as Triton: one config is not tuned; pruned to one is
            return configs[0]
        saved = {name: _values_of(named[name]) for name in self.restore_value}
        name = options.get("name") or self.__name__
        timings: dict[Config, float] = {}
        for i, config in enumerate(configs):
            settings = ", ".join(f"{k}={v}" for k, v in config.kwargs.items())
            self._reset(named)
            if self.pre_hook is not None:
                self.pre_hook({**named, **config.kwargs})
            launch = self._run(runtime, args, options, meta, config,
                               f"{name} (autotune {i + 1}/{len(configs)}: {settings})")  # fmt: skip
            runtime.wait(launch)
            timings[config] = launch.end_ns - launch.target_start_ns
            for tensor_name, values in saved.items():
                tensor = named[tensor_name]
                tensor.copy_(np.zeros(tensor.shape, tensor.dtype) if values is None else values)
            if self.post_hook is not None:
                self.post_hook({**named, **config.kwargs}, None)
        self._reset(named)
        self.configs_timings = timings
        return min(configs, key=timings.__getitem__)  # the first of equals, as Triton

    def _reset(self, named: dict[str, Any]) -> None:
        for tensor_name in self.reset_to_zero:
            tensor = named[tensor_name]
            tensor.copy_(np.zeros(tensor.shape, tensor.dtype))

    def _run(self, runtime: Any, args: tuple, options: dict[str, Any], meta: dict[str, Any],
             config: Config, name: str | None) -> Any:  # fmt: skip
        """One launch with ``config`` (after its own pre_hook)."""
        if config.pre_hook is not None:
            config.pre_hook({**self.meta_of(args, meta), **config.kwargs})
        return runtime.launch(self.kernel, *args, **{**options, "name": name}, **meta,
                              **config.kwargs)  # fmt: skip


def _key_value(value: Any) -> Any:
    """A hashable stand-in of an argument for the tuning key (a tensor: its shape)."""
    if hasattr(value, "shards"):
        return tuple(value.shape)
    return value if isinstance(value, (int, float, str, bool, type(None))) else repr(value)


def _values_of(tensor: Any) -> np.ndarray | None:
    """A tensor's values to restore after tuning (None without simulated data: only the
    copy's time is kept then)."""
    return tensor.peek() if tensor.runtime.verify_data else None


def autotune(configs: Sequence[Config], key: Sequence[str], prune_configs_by: dict | None = None,
             reset_to_zero: Sequence[str] | None = None,
             restore_value: Sequence[str] | None = None, pre_hook: Callable | None = None,
             post_hook: Callable | None = None, warmup: Any = None, rep: Any = None,
             use_cuda_graph: bool = False, do_bench: Any = None,
             cache_results: bool = False) -> Callable[[Any], Autotuner]:  # fmt: skip
    """``@triton.autotune``: see the module docstring (``warmup``, ``rep``,
    ``use_cuda_graph``, ``do_bench`` and ``cache_results`` are accepted and ignored)."""

    def decorator(kernel: Any) -> Autotuner:
        return Autotuner(kernel, configs, key, prune_configs_by, reset_to_zero,
                         restore_value, pre_hook, post_hook)  # fmt: skip

    return decorator


def heuristics(values: dict[str, Callable[[dict[str, Any]], Any]]) -> Callable[[Any], Heuristics]:
    """``@triton.heuristics``: meta-parameters computed from the arguments by name."""

    def decorator(kernel: Any) -> Heuristics:
        return Heuristics(kernel, values)

    return decorator
