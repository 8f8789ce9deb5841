"""Glue between the workflow scripts and memgen: read artifacts, call the logic, write artifacts."""
