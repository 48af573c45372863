"""Per-sample outputs: a pianoroll PNG, a WAV (``render.audio``), and all of a
sample's files written together (``outputs.write_sample``).

Every file is written through ``musegen.atomic``: an interrupted run never leaves a
half-written PNG or WAV that looks valid.
"""
