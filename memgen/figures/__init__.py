"""Figures, drawn by rules/figures.smk through memgen.figures.jobs: one seaborn look, one function each."""
