"""Native persistence engine compiled with numba: Vietoris–Rips H1 and cubical H0/H1 pairs.

Permissively licensed, GIL-free and parallel over the batch; the kernels are compiled once and
cached on disk (``cache=True``). Call :func:`warmup` to compile them ahead of the first real use.
"""

from __future__ import annotations

from toposci.topology.native.cubical import cubical_pairs_native
from toposci.topology.native.flag import flag_pairs_native
from toposci.topology.native.rips import rips_pairs_native, rips_pairs_native_batch
from toposci.topology.native.warmup import warmup

__all__ = ["cubical_pairs_native", "flag_pairs_native", "rips_pairs_native",
           "rips_pairs_native_batch", "warmup"]
