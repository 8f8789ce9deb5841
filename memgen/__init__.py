"""memgen: measure which training examples an image classifier memorizes, and whether they matter."""

from memgen.numerics import pin

__version__ = "0.1.0"

# before anything imports torch: the same kernels on every x86-64 machine (memgen/numerics.py)
pin()


def open(root="results"):  # noqa: A001 (memgen.open, as in the docs; the builtin is untouched elsewhere)
    """A finished study's files as Python objects (memgen/results.py): memgen.open("results").table3()."""
    from memgen.results import Study

    return Study(root)
