"""musegen: music generation with recurrent networks on LPD-5 pianorolls."""

import sys

__version__ = "0.1.0"

if sys.argv[:1] == ["-m"]:  # `python -m musegen.<entry point>` is starting (runpy sets argv
    # later): a Ctrl-C before the entry point's own handling (during its imports) must be
    # one line too, not a traceback. Importing musegen as a library changes nothing.
    from musegen.errors import quiet_interrupts

    quiet_interrupts()
