"""Stage 4, rules/analysis.smk: definitions compared on canaries, sampling bias, stability, the
memorized set."""
