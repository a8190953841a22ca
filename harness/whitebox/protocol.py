"""The adapter attributes a plugin may use: the protocol's public names, written down once.

``tests/core/test_model_boundary.py`` parses every file under ``plugins/`` and fails when a
plugin touches any other attribute of an adapter object, or imports transformers model classes
or the hook primitive's internals. A backend that implements these names (and declares its
:class:`~harness.whitebox.capabilities.Capability` set) runs every built-in plugin.
"""

from __future__ import annotations

#: Black-box calls every adapter has.
BLACK_BOX_API = frozenset({
    "name", "capabilities", "fingerprint", "loglikelihood", "loglikelihood_rolling", "generate",
    # the registered decoding strategies ``decoding=NAME`` may name (set by whoever loads the adapter)
    "decoders", "use_decoders",
})

#: White-box calls (HFAdapter; other backends implement what their capabilities declare).
WHITE_BOX_API = frozenset({
    # shapes and placement
    "num_layers", "hidden_size", "device", "dtype", "max_length",
    # tokenisation: ids, offsets, the BOS rule, special ids; ``tokenizer`` for text-only helpers
    # (chat templates, decoding a token list, first-token lookups)
    "tokenizer", "tok_encode", "encode_pair", "encode_with_offsets", "encode_batch", "add_bos_token", "pad_token_id",
    "prefix_token_id", "eos_ids",
    # forwards: site reads and edits, KV-cache continuation
    "forward", "forward_ids", "hidden_states", "run_with_interventions",
    # decoding rules
    "unembed", "unembedder", "decoding",
    # interchange interventions, weight edits, batching
    "interchange_engine", "weight_edits", "mlp_projection", "mlp_output_map", "sizer",
})

PLUGIN_API = BLACK_BOX_API | WHITE_BOX_API
