"""Stage 1, rules/data.smk: datasets (loaders, streaming, the long-tail generator), the index, canaries and
the
duplicate list."""
