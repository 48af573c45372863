"""From a trained network to new notes: sampling rules and incremental decoding."""
