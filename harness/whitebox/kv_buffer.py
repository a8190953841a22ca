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

    @classmethod
    def of(cls, layer: DynamicLayer, extra: int) -> BufferedLayer:
        new = cls()
        new.__dict__.update(layer.__dict__)
        b, h, n, d = layer.keys.shape
        new._k = layer.keys.new_empty((b, h, n + extra, d))
        new._v = layer.values.new_empty((b, h, n + extra, layer.values.shape[-1]))
        new._k[:, :, :n], new._v[:, :, :n] = layer.keys, layer.values
        new._n = n
        new.keys, new.values = new._k[:, :, :n], new._v[:, :, :n]
        return new

    def _buffered(self, added: int) -> bool:
        k = getattr(self, "_k", None)
        return (k is not None and self.keys.data_ptr() == k.data_ptr() and self.keys.shape[2] == self._n
                and self.keys.shape[0] == k.shape[0] and self._n + added <= k.shape[2])

    def update(self, key_states: torch.Tensor, value_states: torch.Tensor, *args: Any, **kwargs: Any) -> tuple[torch.Tensor, torch.Tensor]:
        t = key_states.shape[-2]
        if not self.is_initialized or not self._buffered(t):
            self._k = None
            return super().update(key_states, value_states, *args, **kwargs)
        self._k[:, :, self._n : self._n + t] = key_states
        self._v[:, :, self._n : self._n + t] = value_states
        self._n += t
        self.keys, self.values = self._k[:, :, : self._n], self._v[:, :, : self._n]
        return self.keys, self.values


    def batch_select_indices(self, indices: torch.Tensor) -> None:
        """Keep rows ``indices``, still buffered (finished rows leaving a decode)."""
        if not self.is_initialized or not self._buffered(0):
            self._k = None
            return super().batch_select_indices(indices)
        self._k, self._v = self._k[indices], self._v[indices]
        self.keys, self.values = self._k[:, :, : self._n], self._v[:, :, : self._n]


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
