"""Reference models in which any attention variant plugs in by name (see the model issues)."""

__all__ = []
