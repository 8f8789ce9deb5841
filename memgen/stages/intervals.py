"""Stage of the per-point intervals: Fig. 12 (the intervals themselves are columns of scores.csv, written by
the scores rule through memgen.scores.score_table)."""

from memgen.errors import fail
from memgen.io import load_json
from memgen.stages.analysis import read_scores


def write_fig_intervals(scores_path, thresholds_path, level: float, png, pdf) -> None:
    """Fig. 12 of one ensemble (the reference): scores.csv's intervals, thresholds.json's τ (null rule)."""
    from memgen.intervals import INTERVAL_COLUMNS
    from memgen.plots.intervals import fig_intervals

    scores = read_scores(scores_path)
    missing = [c for c in INTERVAL_COLUMNS if c not in scores.columns]
    if missing:
        raise fail(
            f"{scores_path} lacks the interval columns {missing}; it was made before intervals existed",
            f"rerun the scores rule: snakemake --forcerun {scores_path}",
        )
    fig_intervals(scores, load_json(thresholds_path), level, [png, pdf])
