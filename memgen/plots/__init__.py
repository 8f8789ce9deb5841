"""Seaborn figures of the study; one function per paper figure."""
