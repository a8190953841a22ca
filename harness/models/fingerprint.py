"""A stable hash of everything that changes a model's outputs, shared by every local backend."""

from __future__ import annotations

import hashlib
from typing import Any


def weights_fingerprint(model: Any, tokenizer: Any, extra: Any = ()) -> str:
    """sha256 over the model class and config, dtype, the tokenizer's vocabulary, ``extra``
    (adapter settings that change outputs) and a strided sample of every weight."""
    import torch

    h = hashlib.sha256()
    h.update(type(model).__name__.encode())
    h.update(model.config.to_json_string(use_diff=False).encode())
    h.update(str(next(model.parameters()).dtype).encode())
    h.update(repr(extra).encode())
    vocab = tokenizer.get_vocab()
    h.update(hashlib.sha256(repr(sorted(vocab.items())).encode()).digest())
    with torch.no_grad():
        for pname, p in model.named_parameters():
            flat = p.detach().reshape(-1)
            step = max(1, flat.numel() // 4096)
            h.update(pname.encode())
            h.update(flat[::step].float().cpu().numpy().tobytes())
    return h.hexdigest()
