"""The key input, computed by hand: after each note, the share of every pitch class among
the pitched notes read so far.

Shares, not counts: a count grows with the length of what was read, so the same key would
feed the network ever larger inputs through a long piece. Not counted: the neutral start
note (pitch 0) of a piece drawn from scratch, which sits on a pitched track as often as on
the drums, and drum notes, whose "pitch" names an instrument.
"""

from __future__ import annotations

import torch

from musegen.models.key_context import PITCH_CLASSES, PitchClassContext

DRUMS = 0
#        start  C   kick  E   C   G   C#
PITCH = [0, 60, 36, 64, 72, 67, 61]
TRACK = [1, 1, DRUMS, 3, 4, 1, 2]  # the start note on the piano, a pitched track

C, CS, E, G = 0, 1, 4, 7
SHARES = [  # after each note: {pitch class: share}
    {},  # the start note is not a pitched note
    {C: 1},
    {C: 1},  # the kick is not counted
    {C: 1 / 2, E: 1 / 2},
    {C: 2 / 3, E: 1 / 3},
    {C: 2 / 4, E: 1 / 4, G: 1 / 4},
    {C: 2 / 5, CS: 1 / 5, E: 1 / 5, G: 1 / 5},
]


def _table(rows: list[dict[int, float]]) -> torch.Tensor:
    out = torch.zeros(len(rows), PITCH_CLASSES)
    for i, row in enumerate(rows):
        for pitch_class, value in row.items():
            out[i, pitch_class] = value
    return out


def _identity_context() -> PitchClassContext:
    """A context whose projection is the identity: its features are the shares themselves."""
    key = PitchClassContext(PITCH_CLASSES, unpitched_track=DRUMS)
    with torch.no_grad():
        key.proj.weight.copy_(torch.eye(PITCH_CLASSES))
        key.proj.bias.zero_()
    return key


def test_the_features_are_the_pitch_class_shares_by_hand() -> None:
    key = _identity_context()
    features, last = key(torch.tensor([PITCH]), torch.tensor([TRACK]))
    torch.testing.assert_close(features[0], _table(SHARES))
    # what decoding carries on: the counts after the last note (C twice, C#, E, G once)
    torch.testing.assert_close(last[0], _table([{C: 2, CS: 1, E: 1, G: 1}])[0])


def test_the_counts_carry_across_a_split_read() -> None:
    """Decoding reads a piece in pieces: the counts after the first part start the second,
    and the features equal those of one read of the whole."""
    key = _identity_context()
    pitch, track = torch.tensor([PITCH]), torch.tensor([TRACK])
    _, carried = key(pitch[:, :4], track[:, :4])
    features, last = key(pitch[:, 4:], track[:, 4:], carried)
    torch.testing.assert_close(features[0], _table(SHARES[4:]))
    torch.testing.assert_close(last[0], _table([{C: 2, CS: 1, E: 1, G: 1}])[0])


def test_without_a_drum_track_every_note_but_the_start_note_counts() -> None:
    key = PitchClassContext(PITCH_CLASSES)  # a model without drums: no unpitched track
    counts = key.counts(torch.tensor([PITCH]), torch.tensor([TRACK]))[0]  # (T, 12)
    assert counts[:, C].tolist() == [0, 1, 2, 2, 3, 3, 3]  # the kick (36) is a C here
    assert counts.sum(-1).tolist() == [0, 1, 2, 3, 4, 5, 6]  # the start note stays out
