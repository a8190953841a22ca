"""The white-box layer: what every interpretability plugin may ask of a model, in one place.

* :mod:`~harness.whitebox.capabilities` -- what an adapter declares it can do (no torch);
* :mod:`~harness.whitebox.protocol` -- the adapter attributes plugins may use (``PLUGIN_API``);
* :mod:`~harness.whitebox.layout` -- where blocks, MLPs, final norm and LM head sit; site names;
* :mod:`~harness.whitebox.hooks` -- the one site-hook primitive (read, edit, skip);
* :mod:`~harness.whitebox.decode` -- the one KV-cached decode loop and the one EOS rule;
* :mod:`~harness.whitebox.prefix_store` -- KV caches of token prefixes kept across calls;
* :mod:`~harness.whitebox.unembed` -- W_U by vocabulary chunk for custom decoding rules;
* :mod:`~harness.whitebox.conformance` -- the checks every model adapter must pass.

The interchange engine (:mod:`harness.interventions`) is built on these. Submodules other than
``capabilities`` and ``protocol`` import torch: import them lazily from plugins.
"""

from harness.whitebox.capabilities import BLACK_BOX, WHITE_BOX, Capability, MissingCapability
from harness.whitebox.protocol import PLUGIN_API

__all__ = ["BLACK_BOX", "Capability", "MissingCapability", "PLUGIN_API", "WHITE_BOX"]
