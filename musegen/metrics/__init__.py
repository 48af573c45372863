"""Evaluation: the paper's cosine similarity made precise, its reference rows, musical metrics.

``similarity`` defines the feature histograms and the continuation measure,
``references`` the trivial continuations that give it a scale, and ``musical`` the
MusPy and MuseGAN metrics of generated vs real music.
"""
