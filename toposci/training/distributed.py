"""Data-parallel training across processes (``torchrun``): process group, rank helpers, gathers.

:func:`~toposci.training.train` calls :func:`init_distributed` first. Under ``torchrun`` (the
environment variables ``WORLD_SIZE`` > 1, ``RANK``, ``LOCAL_RANK``, ``MASTER_ADDR``,
``MASTER_PORT``) it joins the process group — ``nccl`` when the process trains on CUDA (device
``cuda:LOCAL_RANK``), ``gloo`` on CPU — and returns a :class:`DistContext`; a process group
that already exists (made by the caller, or by an earlier ``train`` in the same process) is
used as it is. The group it creates lives until the process exits (a later call reuses it: a
group destroyed and created again in the same ``torchrun`` job cannot reconnect). Without
either, the context is the single process (``world_size == 1``) and every helper here is the
identity, so the single-process training loop runs exactly as it always has.

The topological regularizer compares one batch's point cloud with another; under data
parallelism each rank holds only its slice of the global batch. :func:`gather_topology_inputs`
makes every rank compute the regularizer on the whole global batch instead: it all-gathers the
regularizer's inputs (the data view and the latent codes or reconstructions) with gradients,
see :class:`_GatherRows`.
"""

from __future__ import annotations

import atexit
import logging
import math
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.utils.hooks import RemovableHandle

__all__ = ["DistContext", "all_gather_rows", "gather_topology_inputs", "init_distributed",
           "local_slice", "rank_seed", "resolve_device"]

logger = logging.getLogger(__name__)

_ENV = ("WORLD_SIZE", "RANK", "LOCAL_RANK")
T = TypeVar("T")


@dataclass(frozen=True)
class DistContext:
    """Where this process stands in a data-parallel run.

    Attributes:
        rank: global rank ``0 <= rank < world_size``.
        world_size: number of processes (1 = not distributed).
        local_rank: rank on this machine (the CUDA device index under ``torchrun``).
    """

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        """More than one process: collectives are real."""
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0: the process that logs, shows progress and writes files."""
        return self.rank == 0

    def broadcast(self, obj: Any) -> Any:
        """Rank 0's ``obj`` on every rank (any picklable object; ``obj`` elsewhere is ignored)."""
        if not self.enabled:
            return obj
        box = [obj]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def all_gather_object(self, obj: Any) -> list[Any]:
        """Every rank's ``obj``, in rank order, on every rank."""
        if not self.enabled:
            return [obj]
        out: list[Any] = [None] * self.world_size
        dist.all_gather_object(out, obj)
        return out

    def all_reduce_sum(self, values: Tensor) -> Tensor:
        """The element-wise sum of ``values`` over ranks (in place; returned for chaining).

        A CPU tensor goes to this rank's GPU and back under nccl, which reduces GPU tensors only.
        """
        if self.enabled:
            on = values
            if dist.get_backend() == "nccl" and values.device.type != "cuda":
                on = values.to(torch.device("cuda", torch.cuda.current_device()))
            dist.all_reduce(on, op=dist.ReduceOp.SUM)
            values.copy_(on)
        return values

    def barrier(self) -> None:
        if self.enabled:
            dist.barrier()

    def run_on_main(self, fn: Callable[[], T]) -> T:
        """``fn()`` run on rank 0 alone; its result, or the exception it raised, on every rank.

        For the steps that touch the run directory (checks, reading the checkpoint), so that
        the other ranks need no access to it and fail with rank 0's error instead of waiting.
        """
        if not self.enabled:
            return fn()
        result, error = None, None
        if self.is_main:
            try:
                result = fn()
            except Exception as err:  # sent to the other ranks, then raised on every rank
                error = err
        result, error = self.broadcast((result, error))
        if error is not None:
            raise error
        return result

    @contextmanager
    def main_logging(self) -> Iterator[None]:
        """Within the block, ranks other than 0 log only errors (the ``toposci`` loggers)."""
        if self.is_main:
            yield
            return
        root = logging.getLogger("toposci")
        level = root.level
        root.setLevel(logging.ERROR)
        try:
            yield
        finally:
            root.setLevel(level)


def _env_int(name: str) -> int:
    text = os.environ[name]
    try:
        return int(text)
    except ValueError as err:
        raise ValueError(f"environment variable {name}={text!r} is not an integer") from err


def init_distributed(device: str) -> tuple[DistContext, torch.device]:
    """Join the data-parallel run this process belongs to, and pick its device.

    Args:
        device: the recipe's ``train.device``: ``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:1"``
            ... Under ``torchrun`` a process trains on ``cuda:LOCAL_RANK`` (for ``"auto"`` when
            CUDA is available, and for ``"cuda"``) or on the CPU; an explicit ``"cuda:i"`` is
            refused there, since every process would take the same GPU.

    Returns:
        ``(context, device)``.

    Raises:
        ValueError: malformed ``torchrun`` variables, an explicit CUDA index under ``torchrun``,
            or CUDA asked for where there is none.
    """
    if dist.is_available() and dist.is_initialized():
        ctx = DistContext(dist.get_rank(), dist.get_world_size(),
                          _env_int("LOCAL_RANK") if "LOCAL_RANK" in os.environ else 0)
    elif "WORLD_SIZE" in os.environ and _env_int("WORLD_SIZE") > 1:
        missing = [name for name in _ENV if name not in os.environ]
        if missing:
            raise ValueError(f"WORLD_SIZE is set but {', '.join(missing)} is not: start the "
                             "processes with torchrun")
        ctx = DistContext(_env_int("RANK"), _env_int("WORLD_SIZE"), _env_int("LOCAL_RANK"))
    else:
        return DistContext(), resolve_device(device)
    dev = _rank_device(device, ctx.local_rank) if ctx.enabled else resolve_device(device)
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    if not dist.is_initialized():
        backend = "nccl" if dev.type == "cuda" else "gloo"
        dist.init_process_group(backend=backend, init_method="env://", rank=ctx.rank,
                                world_size=ctx.world_size)
        atexit.register(_destroy_group)
        if ctx.is_main:
            logger.info("data-parallel training on %d processes (%s)", ctx.world_size, backend)
    return ctx, dev


def _destroy_group() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def resolve_device(spec: str) -> torch.device:
    """``"auto"`` -> CUDA when available, else CPU; anything else as ``torch.device``."""
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(spec)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {spec!r} asked for, but CUDA is not available here")
    return dev


def _rank_device(spec: str, local_rank: int) -> torch.device:
    if spec == "auto":
        spec = "cuda" if torch.cuda.is_available() else "cpu"
    dev = torch.device(spec)
    if dev.type != "cuda":
        return dev
    if dev.index is not None:
        raise ValueError(f"device {spec!r} under torchrun: each process uses cuda:LOCAL_RANK; "
                         "set train.device to 'auto' or 'cuda'")
    if not torch.cuda.is_available():
        raise ValueError(f"device {spec!r} asked for, but CUDA is not available here")
    return torch.device("cuda", local_rank)


def local_slice(idx: Tensor, rank: int, world_size: int) -> Tensor:
    """Rank ``rank``'s part of a global batch of sample indices.

    The batch is cut into ``world_size`` consecutive parts whose sizes differ by at most one
    (the first ``B % world_size`` parts are one longer), so every rank takes its part of the
    same global batch without talking to the others.

    Shapes:
        idx ``(B,)`` -> ``(B_r,)`` with ``B_r`` = ``B // world_size`` or one more.
    """
    return idx.tensor_split(world_size)[rank]


def rank_seed(seed: int, *key: int) -> int:
    """A well-mixed 32-bit seed from ``seed`` and ``key`` (e.g. the rank), for per-rank RNGs."""
    return int(np.random.SeedSequence([seed, *key]).generate_state(1)[0])


class _GatherRows(torch.autograd.Function):
    """Concatenate every rank's rows ``(n_r, ...)`` into ``(sum n_r, ...)``, differentiably.

    Forward: each rank pads its rows to ``max n_r`` and all-gathers them. Backward: every rank's
    loss depends on every rank's rows, so the gradient of this rank's rows is the sum over ranks
    of the gradients of their losses with respect to them: an all-reduce of the incoming
    gradient, then this rank's part. Public collectives only, which gloo and nccl both have;
    ``torch.distributed.nn.functional.all_gather`` would do the same for equal row counts, but
    torch 2.13 deprecates it with a warning on every call.
    """

    @staticmethod
    def forward(ctx: Any, x: Tensor, sizes: list[int], rank: int) -> Tensor:
        rows = max(sizes)
        padded = x.new_zeros((rows, *x.shape[1:]))  # (max n_r, ...)
        padded[: x.shape[0]] = x
        parts = [torch.empty_like(padded) for _ in sizes]
        dist.all_gather(parts, padded)
        ctx.sizes, ctx.rank = sizes, rank
        return torch.cat([part[:n] for part, n in zip(parts, sizes, strict=True)])

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None, None]:
        grad = grad.contiguous().clone()  # (sum n_r, ...)
        dist.all_reduce(grad, op=dist.ReduceOp.SUM)
        start = sum(ctx.sizes[: ctx.rank])
        return grad[start:start + ctx.sizes[ctx.rank]], None, None


def all_gather_rows(x: Tensor) -> Tensor:
    """Every rank's ``x`` concatenated in rank order along dim 0, with gradients.

    Ranks may hold different numbers of rows. The gradient that reaches ``x`` is the sum, over
    ranks, of the gradients of each rank's use of the result, so when every rank computes the
    same loss ``L`` from the result and DDP then averages the parameter gradients over the ``W``
    ranks, the update is exactly that of ``L`` computed in one process.

    Args:
        x: this rank's rows.

    Returns:
        All ranks' rows; ``x`` itself when not distributed.

    Shapes:
        x ``(n_r, ...)`` -> ``(sum_r n_r, ...)``.
    """
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return x
    count = torch.tensor([x.shape[0]], device=x.device)
    counts = [torch.empty_like(count) for _ in range(dist.get_world_size())]
    dist.all_gather(counts, count)
    sizes = [int(c) for c in counts]
    return _GatherRows.apply(x.contiguous(), sizes, dist.get_rank())


def _gather_together(tensors: list[Tensor]) -> list[Tensor]:
    """:func:`all_gather_rows` of each tensor; one collective for all when they share ``n_r``,
    dtype and device (the data view and the codes do: side by side, then split again)."""
    n, dtype, device = tensors[0].shape[0], tensors[0].dtype, tensors[0].device
    if len(tensors) == 1 or any((x.shape[0], x.dtype, x.device) != (n, dtype, device)
                                for x in tensors):
        return [all_gather_rows(x) for x in tensors]
    widths = [math.prod(x.shape[1:]) for x in tensors]
    joined = all_gather_rows(torch.cat([x.reshape(n, w) for x, w in zip(tensors, widths,
                                                                          strict=True)], dim=1))
    # joined: (sum_r n_r, sum of widths)
    return [part.reshape(-1, *x.shape[1:])
            for part, x in zip(joined.split(widths, dim=1), tensors, strict=True)]


def _gather_inputs(module: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]
                   ) -> tuple[tuple[Any, ...], dict[str, Any]] | None:
    if not module.training:  # validation runs on rank 0 alone
        return None
    args, kwargs = list(args), dict(kwargs)
    slots: list[tuple[list[Any] | dict[str, Any], Any]] = [
        *((args, i) for i, a in enumerate(args) if isinstance(a, Tensor)),
        *((kwargs, k) for k, v in kwargs.items() if isinstance(v, Tensor)),
    ]
    if not slots:
        return None
    gathered = _gather_together([where[key] for where, key in slots])
    for (where, key), value in zip(slots, gathered, strict=True):
        where[key] = value
    return tuple(args), kwargs


def gather_topology_inputs(regularizer: nn.Module) -> RemovableHandle:
    """Make ``regularizer`` see the global batch: all-gather its tensor inputs before it runs.

    A forward pre-hook, not a wrapper module, so that the model's state-dict keys (and so its
    checkpoints) stay those of the plain model. In training mode every rank then computes the
    same regularizer value on the concatenation of all ranks' batches (see
    :func:`all_gather_rows` for the gradients); in eval mode the hook does nothing, so that one
    rank alone can validate. Remove it with the returned handle's ``remove()``.

    Args:
        regularizer: e.g. a :class:`~toposci.topology.TopoRegularizer`, called as
            ``regularizer(data, latent=...)`` or ``regularizer(data, reconstruction=...)``.

    Shapes:
        each tensor argument ``(n_r, ...)`` is replaced by ``(sum_r n_r, ...)``.
    """
    return regularizer.register_forward_pre_hook(_gather_inputs, with_kwargs=True)
