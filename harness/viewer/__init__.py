"""``harness view``: browse results down to the sample, compare runs, see each run's provenance.

:mod:`~harness.viewer.catalog` finds runs under a folder, :mod:`~harness.viewer.provenance`
says how each was made, :mod:`~harness.viewer.samples` pages through sample logs without
reading them whole, :mod:`~harness.viewer.blocks` is what a plugin's
``harness_view_sample`` hook returns, :mod:`~harness.viewer.compare` pairs two runs'
samples, and :mod:`~harness.viewer.server` / :mod:`~harness.viewer.bundle` deliver the same
data files to the one page in ``static/`` (a loopback server, or a static site for ``file://``).
"""
