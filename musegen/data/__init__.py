"""The data pipeline, one step a module, flowing one way.

MIDI or LPD npz -> LPD-5 pianorolls (``lpd_io``, ``lpd_merge``, ``midi_to_lpd``)
-> note arrays (``pianoroll_notes``) -> cached memory-mapped splits (``note_cache``)
-> windows (``windows``) -> batches (``datamodule``).
"""
