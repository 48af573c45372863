"""Scoring a trained network on test music: the report (``report``), the callback that runs
it after ``Trainer.test`` (``callback``), and sending it to the loggers (``logging``).

``python -m musegen.train`` and ``python -m musegen.evaluate`` both go through
``EvaluateAfterTest``, so a run's end-of-training evaluation and a later evaluation of its
checkpoint are the same computation.
"""
