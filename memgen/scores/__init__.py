"""Stage 3, rules/scores.smk: per-point scores and intervals, the fit check, thresholds."""
