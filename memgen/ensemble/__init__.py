"""Stage 2, rules/ensemble.smk: masks, models, the training loop and the members' compact outputs."""
