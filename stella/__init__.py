"""stella-book: a reproducible implementation of STELLA (Lee et al., ICML 2024)."""
__version__ = "0.1.0"
