"""Memorization proxies: cheap per-point scores from a few trainings, and their validation against the
ensembles."""
