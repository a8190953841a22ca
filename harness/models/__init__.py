"""Model adapters: one protocol (:mod:`harness.models.base`), a transformers backend."""
