"""A preallocated KV cache for decoding: each step writes its keys and values in place instead
of concatenating (transformers' ``DynamicLayer`` copies the whole cache of every layer at every
step: ~46 MB per row per step for a 135M model at 1,000 tokens)."""

from __future__ import annotations

from typing import Any

import torch
from transformers.cache_utils import DynamicLayer


class BufferedLayer(DynamicLayer):
    """A ``DynamicLayer`` whose keys and values are views of a buffer with room for ``extra``
    more columns. Anything that replaces ``keys`` (crop, batch selection) or outgrows the
    buffer falls back to concatenation, so the layer stays correct whatever is done to it."""

    _k: torch.Tensor | None = None  # the buffers; None once the layer fell back to concatenation
    _v: torch.Tensor | None = None
    _n: int = 0  # columns in use

    @classmethod
    def of(cls, layer: DynamicLayer, extra: int) -> BufferedLayer:
        new = cls()
        new.__dict__.update(layer.__dict__)
        keys, values = layer.keys, layer.values
        assert keys is not None and values is not None, "only an initialised layer is buffered"
        b, h, n, d = keys.shape
        k, v = keys.new_empty((b, h, n + extra, d)), values.new_empty((b, h, n + extra, values.shape[-1]))
        k[:, :, :n], v[:, :, :n] = keys, values
        new._k, new._v, new._n = k, v, n
        new.keys, new.values = k[:, :, :n], v[:, :, :n]
        return new

    def _buffers(self, added: int) -> tuple[torch.Tensor, torch.Tensor] | None:
        """The buffers when ``keys`` is still their view and ``added`` columns fit, else None."""
        k, v, keys = self._k, self._v, self.keys
        if k is None or v is None or keys is None:
            return None
        fits = keys.data_ptr() == k.data_ptr() and keys.shape[2] == self._n and keys.shape[0] == k.shape[0] and self._n + added <= k.shape[2]
        return (k, v) if fits else None

    def update(self, key_states: torch.Tensor, value_states: torch.Tensor, *args: Any, **kwargs: Any) -> tuple[torch.Tensor, torch.Tensor]:
        t = key_states.shape[-2]
        buffers = self._buffers(t) if self.is_initialized else None
        if buffers is None:
            self._k = self._v = None
            return super().update(key_states, value_states, *args, **kwargs)
        k, v = buffers
        k[:, :, self._n : self._n + t] = key_states
        v[:, :, self._n : self._n + t] = value_states
        self._n += t
        keys, values = k[:, :, : self._n], v[:, :, : self._n]
        self.keys, self.values = keys, values
        return keys, values

    def batch_select_indices(self, indices: torch.Tensor) -> None:
        """Keep rows ``indices``, still buffered (finished rows leaving a decode)."""
        buffers = self._buffers(0) if self.is_initialized else None
        if buffers is None:
            self._k = self._v = None
            return super().batch_select_indices(indices)
        k, v = buffers[0][indices], buffers[1][indices]
        self._k, self._v = k, v
        self.keys, self.values = k[:, :, : self._n], v[:, :, : self._n]


def reserve(cache: Any, extra: int) -> Any:
    """Give every plain dynamic layer of ``cache`` room for ``extra`` more columns (in place;
    sliding-window and other layer kinds are left as they are)."""
    layers = getattr(cache, "layers", None)
    if extra <= 0 or layers is None:
        return cache
    for i, layer in enumerate(layers):
        if type(layer) is DynamicLayer and layer.is_initialized and layer.keys is not None and layer.keys.dim() == 4:
            layers[i] = BufferedLayer.of(layer, extra)
    return cache
