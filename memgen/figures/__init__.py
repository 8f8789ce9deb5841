"""Figures, drawn by rules/figures.smk through each stage's jobs: one seaborn look, one function each."""
