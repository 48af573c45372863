"""Evaluation: the paper's cosine similarity made precise, its reference rows, musical metrics.

``similarity`` defines the feature histograms and the continuation measure,
``references`` the trivial continuations that give it a scale, and ``musical`` the
MusPy and MuseGAN metrics of generated vs real music.
"""

REAL_ROW = "real vs real"
"""The row of held-out real music, scored as every model is: the ceiling of each report's
tables, and the name every report, page and comparison gives it."""
