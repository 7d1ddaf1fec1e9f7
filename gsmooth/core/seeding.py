"""Reproducible noise streams that do not depend on the batch size.

Every image has its own stream of noise, cut in fixed blocks of :data:`BLOCK_SIZE` draws; block
``b`` of image ``key`` in phase ``phase`` (selection, estimation, prediction) is drawn from a
``torch.Generator`` seeded with ``derive_seed(seed, key, phase, b)``. Any batch size, and any
packing of several images into one forward batch, sees exactly the same θ's, so the same seed
gives the same certificates whatever ``batch_size`` is (on the same device: CPU and CUDA
generators differ).
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import torch

__all__ = ["BLOCK_SIZE", "derive_seed", "NoiseStream"]

#: Draws per seeded block. Batch sizes that are multiples of it waste nothing.
BLOCK_SIZE = 100

_MASK64 = (1 << 64) - 1


def _splitmix64(x: int) -> int:
    x = (x + 0x9E3779B97F4A7C15) & _MASK64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK64
    return x ^ (x >> 31)


def derive_seed(*parts: int) -> int:
    """Mix integers into one 63-bit seed (SplitMix64 chain); distinct tuples give unrelated seeds.

    Example:
        >>> derive_seed(0, 1, 2) != derive_seed(0, 2, 1)
        True
    """
    h = 0
    for p in parts:
        h = _splitmix64(h ^ (int(p) & _MASK64))
    return h & ((1 << 63) - 1)


_POOL: ThreadPoolExecutor | None = None
_POOL_LOCK = threading.Lock()
_LOCAL = threading.local()


def _pool() -> ThreadPoolExecutor | None:
    """Threads for drawing CPU noise blocks in parallel (one CPU generator is sequential; blocks are
    seeded independently, so drawing them on several threads changes nothing but the speed)."""
    global _POOL
    workers = torch.get_num_threads()
    if workers < 2:
        return None
    with _POOL_LOCK:
        if _POOL is None or _POOL._max_workers != workers:  # noqa: SLF001
            _POOL = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="gsmooth-noise")
        return _POOL


def _thread_generator() -> torch.Generator:
    gen = getattr(_LOCAL, "generator", None)
    if gen is None:
        gen = _LOCAL.generator = torch.Generator()
    return gen


class NoiseStream:
    """Draws θ's for one image, block by block, and hands out any number of them in order.

    Args:
        noise: a :class:`gsmooth.Noise`.
        shape: shape of one θ.
        seed_parts: ``(seed, key, phase)`` identifying the stream.
        device, dtype: where θ lives.
    """

    def __init__(self, noise, shape, seed_parts, *, device, dtype, generator: torch.Generator | None = None):
        self.noise = noise
        self.shape = tuple(shape)
        self.seed_parts = tuple(int(p) for p in seed_parts)
        self.device = torch.device(device)
        self.dtype = dtype
        self.generator = generator if generator is not None else torch.Generator(device=self.device)
        self._block = 0
        self._buffer: torch.Tensor | None = None

    def _draw(self, block: int, out: torch.Tensor, generator: torch.Generator, inference: bool) -> None:
        # inference mode is thread-local: a worker thread must enter the caller's mode to write `out`
        with torch.inference_mode(inference):
            generator.manual_seed(derive_seed(*self.seed_parts, block))
            out.copy_(self.noise.sample(out.shape, generator=generator, device=self.device, dtype=self.dtype))

    def _next_block(self, blocks: int = 1) -> torch.Tensor:
        first = self._block
        self._block += blocks
        if blocks == 1:
            self.generator.manual_seed(derive_seed(*self.seed_parts, first))
            return self.noise.sample((BLOCK_SIZE, *self.shape), generator=self.generator, device=self.device, dtype=self.dtype)
        out = torch.empty((blocks * BLOCK_SIZE, *self.shape), device=self.device, dtype=self.dtype)
        pool = _pool() if self.device.type == "cpu" else None
        inference = torch.is_inference_mode_enabled()
        if pool is None:
            for b in range(blocks):
                self._draw(first + b, out[b * BLOCK_SIZE : (b + 1) * BLOCK_SIZE], self.generator, inference)
        else:
            # Each block has its own seed, so which thread draws it does not matter.
            jobs = [
                pool.submit(
                    lambda b=b: self._draw(first + b, out[b * BLOCK_SIZE : (b + 1) * BLOCK_SIZE], _thread_generator(), inference)
                )
                for b in range(blocks)
            ]
            for job in jobs:
                job.result()
        return out

    def take(self, k: int) -> torch.Tensor:
        """The next ``k`` draws, shape ``(k, *shape)``."""
        pieces = []
        while k > 0:
            if self._buffer is None or self._buffer.shape[0] == 0:
                self._buffer = self._next_block(max(1, k // BLOCK_SIZE))
            piece, self._buffer = self._buffer[:k], self._buffer[k:]
            pieces.append(piece)
            k -= piece.shape[0]
        return pieces[0] if len(pieces) == 1 else torch.cat(pieces)
