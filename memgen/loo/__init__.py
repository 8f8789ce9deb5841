"""Exact leave-one-out truth on small datasets, rules/loo.smk."""
