"""Display: stretches and intervals (as astropy.visualization's), looked up by name.

Lives here: :mod:`.stretch` (linear, sqrt, log, asinh stretches; min-max, percentile, zscale intervals;
the lookup tables the app's views use); multiresolution pyramids of large images (:mod:`.pyramid`).

May import: numpy only; nothing else of core, no Qt, no torch.
"""
