"""Figures (rules/figures.smk draws them from each stage's jobs): one seaborn look, one function per figure."""
