"""Megatron-LM's tensor-parallel linear layers, on the simulated accelerator.

Each rank (one PE) holds its shard of the weight in its HBM slice and runs the GEMM as a
``tl`` kernel (fp16 in, fp32 accumulate). Weights are (in_features, out_features), so
``y = x @ W + b``:

1. :class:`ColumnParallelLinear` splits W by columns: rank r computes
   ``y_r = x @ W[:, r]`` (its slice of the outputs). ``gather_output=True`` gathers the
   slices on every rank (each rank writes its slice into a zeroed full-width tensor,
   then a SUM all-reduce: twice the bytes of an all-gather).
2. :class:`RowParallelLinear` splits W by rows: rank r computes the partial product
   ``x_r @ W[r, :]`` of its input slice, an all-reduce sums the partials, and the bias
   is added once after the reduction.

Initial weights are seeded: every rank draws the same full matrix and keeps its shard,
so a numpy reference can be rebuilt with :meth:`master_weight` (data mode only).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from simulator.runtime import dist
from simulator.runtime.placement import Placement
from simulator.runtime.runtime import Runtime
from simulator.runtime.tensor import Tensor
from simulator.runtime.tp import parallel_state as ps
from simulator.runtime.tp.kernels import bias_kernel, linear_kernel

DEFAULT_BLOCKS = {"block_m": 128, "block_n": 128, "block_k": 128}


class LayerError(ValueError):
    """A layer that cannot be split as asked (sizes not divisible, bad input shape)."""


def seeded_normal(seed: int, shape: tuple[int, ...], std: float) -> np.ndarray:
    """The same fp16 normal matrix on every rank (and in references) for a seed."""
    return (np.random.default_rng(seed).standard_normal(shape) * std).astype(np.float16)


def _divide(total: int, parts: int, what: str) -> int:
    if total % parts:
        raise LayerError(f"{what}={total} is not divisible by the tensor-parallel size {parts}")
    return total // parts


class _ParallelLinear:
    """What both layers share: the runtime, seeds, tile sizes and weight upload."""

    def __init__(self, in_features: int, out_features: int, bias: bool, runtime: Runtime | None,
                 seed: int, init_std: float, blocks: dict[str, int] | None) -> None:  # fmt: skip
        from simulator.runtime.multiprocessing import current_rank

        ctx = current_rank()
        self.runtime = runtime or (ctx.world.runtime if ctx else None)
        if self.runtime is None:
            raise ps.ParallelStateError("parallel layers must be built inside spawned ranks")
        self.in_features = in_features
        self.out_features = out_features
        self.use_bias = bias
        self.seed = seed
        self.init_std = init_std
        self.blocks = dict(DEFAULT_BLOCKS, **(blocks or {}))
        self.tp_size = ps.get_tensor_model_parallel_world_size()
        self.tp_rank = ps.get_tensor_model_parallel_rank()
        self.placement: Placement = dist.get_placement()

    def master_weight(self) -> np.ndarray:
        """The full (in_features, out_features) fp16 weight all ranks were cut from."""
        return seeded_normal(self.seed, (self.in_features, self.out_features), self.init_std)

    def master_bias(self) -> np.ndarray:
        """The full (out_features,) fp16 bias."""
        return seeded_normal(self.seed + 1, (self.out_features,), self.init_std)

    def _upload(self, values: Any, shape: tuple[int, ...], name: str) -> Tensor:
        """A tensor on this rank's PE, filled from ``values()`` in data mode (timed copy
        either way, so simulated time does not depend on the mode)."""
        rt = self.runtime
        tensor = rt.empty(shape, "float16", self.placement, name)
        rt.copy_from_host(tensor, values() if rt.verify_data else None)
        return tensor

    def _launch(self, *args: Any, name: str) -> None:
        rt = self.runtime
        rt.launch(linear_kernel, *args, self.blocks["block_m"], self.blocks["block_n"],
                  self.blocks["block_k"], pes=self.placement.pes, name=name)  # fmt: skip

    def _check_input(self, x: Tensor, features: int) -> None:
        if len(x.shape) != 2 or x.shape[1] != features:
            raise LayerError(
                f"{type(self).__name__}: input of shape {x.shape}, expected (tokens, {features})"
            )


class ColumnParallelLinear(_ParallelLinear):
    """``Y = X W + b`` with W split by columns over the tensor-parallel ranks."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True,
                 gather_output: bool = False, *, runtime: Runtime | None = None, seed: int = 0,
                 init_std: float = 0.02, activation: str | None = None,
                 blocks: dict[str, int] | None = None) -> None:  # fmt: skip
        super().__init__(in_features, out_features, bias, runtime, seed, init_std, blocks)
        self.gather_output = gather_output
        self.activation = activation
        self.output_size_per_partition = _divide(out_features, self.tp_size, "out_features")
        n = self.output_size_per_partition
        cols = slice(self.tp_rank * n, (self.tp_rank + 1) * n)
        if gather_output and n % self.blocks["block_n"] and n > self.blocks["block_n"]:
            raise LayerError(f"gather_output needs block_n dividing {n} columns per rank")
        self.blocks["block_n"] = min(self.blocks["block_n"], n)
        self.weight = self._upload(lambda: self.master_weight()[:, cols], (in_features, n),
                                   f"column_weight{self.tp_rank}")  # fmt: skip
        self.bias = (
            self._upload(lambda: self.master_bias()[cols], (n,), f"column_bias{self.tp_rank}")
            if bias else None
        )  # fmt: skip

    def forward(self, x: Tensor) -> Tensor:
        """This rank's output slice (tokens, out/tp), or every rank the full output with
        ``gather_output``."""
        self._check_input(x, self.in_features)
        rt, tokens, n = self.runtime, x.shape[0], self.output_size_per_partition
        width = self.out_features if self.gather_output else n
        y = rt.zeros((tokens, width), "float16", self.placement, f"column_out{self.tp_rank}")
        n_offset = self.tp_rank * n if self.gather_output else 0
        self._launch(x, self.weight, self.bias, y, 0, n_offset, self.activation,
                     name="column_parallel_linear")  # fmt: skip
        if self.gather_output:
            dist.all_reduce(y)
        return y

    __call__ = forward


class RowParallelLinear(_ParallelLinear):
    """``Y = X W + b`` with W split by rows; partial products are summed by all-reduce."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True,
                 input_is_parallel: bool = True, *, runtime: Runtime | None = None,
                 seed: int = 0, init_std: float = 0.02,
                 blocks: dict[str, int] | None = None) -> None:  # fmt: skip
        super().__init__(in_features, out_features, bias, runtime, seed, init_std, blocks)
        self.input_is_parallel = input_is_parallel
        self.input_size_per_partition = _divide(in_features, self.tp_size, "in_features")
        k = self.input_size_per_partition
        rows = slice(self.tp_rank * k, (self.tp_rank + 1) * k)
        self.weight = self._upload(lambda: self.master_weight()[rows, :], (k, out_features),
                                   f"row_weight{self.tp_rank}")  # fmt: skip
        self.bias = (
            self._upload(self.master_bias, (out_features,), f"row_bias{self.tp_rank}")
            if bias else None
        )  # fmt: skip

    def forward(self, x: Tensor) -> Tensor:
        """The full output (tokens, out_features), identical on every rank."""
        k = self.input_size_per_partition
        self._check_input(x, k if self.input_is_parallel else self.in_features)
        rt = self.runtime
        y = rt.zeros((x.shape[0], self.out_features), "float16", self.placement,
                     f"row_out{self.tp_rank}")  # fmt: skip
        k_offset = 0 if self.input_is_parallel else self.tp_rank * k
        self._launch(x, self.weight, None, y, k_offset, 0, None, name="row_parallel_linear")
        dist.all_reduce(y)
        if self.bias is not None:
            rt.launch(bias_kernel, y, self.bias, self.blocks["block_m"], self.blocks["block_n"],
                      pes=self.placement.pes, name="row_parallel_bias")  # fmt: skip
        return y

    __call__ = forward


class ParallelMLP:
    """Megatron's MLP: ColumnParallelLinear -> GeLU (MATH engine) -> RowParallelLinear.

    The GeLU and the first bias run fused into the column layer's kernel, on MATH, so
    the (tokens, ffn/tp) activation never leaves the rank's PE.
    """

    def __init__(self, hidden: int, ffn: int, *, runtime: Runtime | None = None, seed: int = 0,
                 blocks: dict[str, int] | None = None) -> None:  # fmt: skip
        self.dense_h_to_4h = ColumnParallelLinear(
            hidden,
            ffn,
            gather_output=False,
            runtime=runtime,
            seed=seed,
            activation="gelu",
            blocks=blocks,
        )
        self.dense_4h_to_h = RowParallelLinear(
            ffn, hidden, input_is_parallel=True, runtime=runtime, seed=seed + 2, blocks=blocks
        )

    def forward(self, x: Tensor) -> Tensor:
        """(tokens, hidden) -> (tokens, hidden), the same on every rank."""
        return self.dense_4h_to_h(self.dense_h_to_4h(x))

    __call__ = forward


def mlp_reference(x: np.ndarray, mlp: ParallelMLP) -> np.ndarray:
    """The numpy result of the same MLP with the same weights (fp32 math, fp16 at the
    points the kernels store fp16)."""
    fc1, fc2 = mlp.dense_h_to_4h, mlp.dense_4h_to_h
    f32 = np.float32
    h = x.astype(f32) @ fc1.master_weight().astype(f32) + fc1.master_bias().astype(f32)
    h = 0.5 * h * (1.0 + np.tanh(0.7978845608028654 * (h + 0.044715 * h**3)))
    h = h.astype(np.float16).astype(f32)
    y = h @ fc2.master_weight().astype(f32) + fc2.master_bias().astype(f32)
    return y.astype(np.float16)
