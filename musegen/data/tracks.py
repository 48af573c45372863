"""LPD-5's five tracks and the official rule that maps a MIDI program onto them.

The rule is LPD's ``src/merger_5.py``: drum tracks -> Drums; programs 0-7 -> Piano;
24-31 -> Guitar; 32-39 -> Bass; every other program below 96, and 104-111 -> Strings;
96-103 (synth effects) and 112-127 (percussive, sound effects) are dropped.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from musegen.checks import ConfigError

LPD5_TRACKS: tuple[str, ...] = ("Drums", "Piano", "Guitar", "Bass", "Strings")
"""Track names in LPD-5's file order; a track id is an index into this tuple."""

LPD5_PROGRAMS: tuple[int, ...] = (0, 0, 24, 32, 48)
"""The General MIDI program LPD-5 stores for each track (Drums plays on channel 10)."""

LPD5_IS_DRUM: tuple[bool, ...] = (True, False, False, False, False)

DROPPED = -1


def lpd5_family(programs: np.ndarray, is_drum: np.ndarray) -> np.ndarray:
    """Map MIDI programs to LPD-5 track ids with LPD's official rule.

    Parameters
    ----------
    programs : ndarray, shape=(n,), int
        General MIDI programs, 0-127.
    is_drum : ndarray, shape=(n,), bool
        Whether each source track is a drum track (channel 10).

    Returns
    -------
    ndarray, shape=(n,), int64
        Track ids 0-4 (see ``LPD5_TRACKS``), or ``DROPPED`` (-1) for programs the rule drops.
    """
    programs = np.asarray(programs, dtype=np.int64)
    is_drum = np.asarray(is_drum, dtype=bool)
    out = np.full(programs.shape, 4, dtype=np.int64)  # Strings: the catch-all below 96
    out[programs < 8] = 1
    out[(programs >= 24) & (programs < 32)] = 2
    out[(programs >= 32) & (programs < 40)] = 3
    out[((programs >= 96) & (programs < 104)) | (programs >= 112)] = DROPPED
    out[is_drum] = 0
    return out


IS_DRUM: np.ndarray = np.asarray(LPD5_IS_DRUM, dtype=bool)
"""``LPD5_IS_DRUM`` as an array, to index by track ids: ``IS_DRUM[notes["track"]]``."""


def canonical_track(name: object, key: str = "track") -> str:
    """A track's LPD-5 name from any spelling (``bass``, ``BASS``: ``Bass``): the one way
    musegen matches track names. Raises ``ConfigError`` (one line naming ``key`` and the
    names) for a name that is not an LPD-5 track."""
    lookup = {n.lower(): n for n in LPD5_TRACKS}
    found = lookup.get(str(name).lower())
    if found is None:
        raise ConfigError(f"{key}: unknown track {name!r}; choose from {list(LPD5_TRACKS)}")
    return found


def among(names: object, tracks: list[str] | tuple[str, ...], key: str) -> list[str]:
    """``names`` (one name or several, any spelling) as LPD-5 names, each one of ``tracks``
    (a model's); else one ``ConfigError`` line naming ``key`` and listing ``tracks``."""
    given = [names] if isinstance(names, str) else list(names or [])  # type: ignore[call-overload]
    known = {t.lower(): t for t in tracks}
    unknown = [str(n) for n in given if str(n).lower() not in known]
    if unknown:
        raise ConfigError(
            f"{key}: {', '.join(unknown)} is not a track of this model; its tracks are "
            f"[{', '.join(tracks)}]"
        )
    return [known[str(n).lower()] for n in given]


def is_drum(name: object) -> bool:
    """Whether the LPD-5 track of this name (any spelling) is the drum track."""
    return LPD5_IS_DRUM[LPD5_TRACKS.index(canonical_track(name))]


def drum_track(names: Sequence[object] | None) -> int | None:
    """The index of the drum track among a model's track ``names`` (its own order), or None
    where it has none: the one track whose keys name instruments, not pitches."""
    return next((i for i, name in enumerate(names or ()) if is_drum(name)), None)


def track_ids(names: list[str] | tuple[str, ...]) -> list[int]:
    """Resolve track names (case-insensitive) to LPD-5 track ids, keeping the given order.

    Raises
    ------
    ValueError
        One line naming the unknown track and the valid names.
    """
    ids = [LPD5_TRACKS.index(canonical_track(name, "data.tracks")) for name in names]
    if len(set(ids)) != len(ids):
        raise ValueError(f"data.tracks: a track is listed twice in {list(names)}")
    if not ids:
        raise ValueError(f"data.tracks: empty; choose from {list(LPD5_TRACKS)}")
    return ids
