"""Stage 5, rules/utility.smk: removal sets, utility runs' accuracies, the ablation (Table 1) and
memorized-vs-random removal (Table 3)."""
