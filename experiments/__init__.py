"""Experiments that compare the attention variants; the library never imports this package."""

__all__ = []
