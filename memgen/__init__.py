"""memgen: measure which training examples an image classifier memorizes, and whether they matter."""

__version__ = "0.1.0"
