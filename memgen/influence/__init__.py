"""Influence of each training point on each test point, from one ensemble's members (rules/influence.smk)."""
