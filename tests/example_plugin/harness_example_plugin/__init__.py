"""An example harness plugin: arithmetic multiple choice scored by log-likelihood."""
