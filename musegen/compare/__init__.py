"""Aggregate a sweep's runs into one comparison: ``python -m musegen.compare SWEEP_DIR``.

``runs`` reads run folders as plain data, ``table`` groups them by the overrides that vary
and collapses seeds, ``report`` and ``plots`` write ``comparison.{csv,md}`` and PNG charts.
"""

from musegen.compare.main import compare

__all__ = ["compare"]
