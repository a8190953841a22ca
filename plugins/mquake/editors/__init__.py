"""Built-in weight editors for MQuAKE's ``weight_edit`` method, written from the papers' rules.

* :class:`~harness_plugins.mquake.editors.ft.FTEditor` -- constrained fine-tuning of one MLP output
  projection (an L-inf bound around the original weights), MQuAKE's FT baseline;
* :class:`~harness_plugins.mquake.editors.rome.ROMEEditor` -- ROME's rank-one update (Meng et al. 2022),
  applied edit after edit;
* :class:`~harness_plugins.mquake.editors.memit.MEMITEditor` -- MEMIT's batch update spread over several
  layers (Meng et al. 2023).

Each is a ``WeightEditor``: ``apply(adapter, edits)`` changes ``adapter.mlp_projection(l)`` in
place and is only called inside ``adapter.weight_edits``, which restores the weights.
Referenced from task files as ``editor: harness_plugins.mquake.editors:ROMEEditor`` (etc.).
"""

from harness_plugins.mquake.editors.ft import FTEditor
from harness_plugins.mquake.editors.memit import MEMITEditor
from harness_plugins.mquake.editors.rome import ROMEEditor

__all__ = ["FTEditor", "MEMITEditor", "ROMEEditor"]
