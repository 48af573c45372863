"""Score one ``SampleSet``: per-instrument statistics, distribution overlap and MusPy's
metrics of every row, and the evaluation over time, all by the same code, as plain
JSON-ready data.

The reference set (real excerpts of the training songs) fixes what "real" means for every
row: the tracks' 1st-99th percentile pitch ranges (``tracks.TrackRanges``), the intra-set
distances of the overlap (``overlap.compare_sets``) and the real bars at each bar number
(``over_time``). The controls of form (``samples.FORM_ROWS``) keep real bars, so only the
evaluation over time scores them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from musegen.data.note_timing import RESOLUTION
from musegen.data.tracks import LPD5_TRACKS
from musegen.evaluation.samples import FORM_ROWS, SampleSet
from musegen.metrics.features import features_for
from musegen.metrics.musical import metrics_table
from musegen.metrics.over_time import over_time
from musegen.metrics.overlap import compare_sets
from musegen.metrics.tracks import TrackRanges, track_table


def score_set(
    sample_set: SampleSet, track_ids: Sequence[int], seed: int = 0, resolution: int = RESOLUTION
) -> dict[str, Any]:
    """Everything a report shows of one kind of sample.

    Returns
    -------
    dict
        ``kind``; ``pieces`` (row -> count) and ``reference_pieces``; ``ranges`` (track name
        -> [1st, 99th] percentile pitch of the reference); ``tracks`` (``track_table``);
        ``overlap`` (row -> feature -> ``Overlap.to_dict()``, ``"mean"`` among the features);
        ``musical`` (``metrics_table`` of every row); ``over_time``
        (``metrics.over_time.over_time`` of every row, the controls of form included).
    """
    ranges = TrackRanges.fit(sample_set.reference)
    every = {name: pieces for name, pieces in sample_set.rows.items() if pieces}
    rows = {name: pieces for name, pieces in every.items() if name not in FORM_ROWS}
    features = features_for(track_ids)
    overlap = {
        name: {
            feature: result.to_dict()
            for feature, result in compare_sets(
                pieces, sample_set.reference, features, resolution, seed
            ).items()
        }
        for name, pieces in rows.items()
    }
    return {
        "kind": sample_set.kind,
        "pieces": {name: len(pieces) for name, pieces in rows.items()},
        "reference_pieces": len(sample_set.reference),
        "ranges": {
            LPD5_TRACKS[t]: [ranges.low[t], ranges.high[t]] for t in track_ids if t in ranges.low
        },
        "tracks": track_table(rows, track_ids, ranges, resolution),
        "overlap": overlap,
        "musical": metrics_table(rows, list(track_ids), resolution),
        "over_time": over_time(every, sample_set.reference, track_ids, sample_set.layout, seed),
    }
