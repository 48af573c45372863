"""musegen: music generation with recurrent networks on LPD-5 pianorolls."""

__version__ = "0.1.0"
