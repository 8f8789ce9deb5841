"""memgen: measure which training examples an image classifier memorizes, and whether they matter."""

from memgen.numerics import pin

__version__ = "0.1.0"

# before anything imports torch: the same kernels on every x86-64 machine (memgen/numerics.py)
pin()
