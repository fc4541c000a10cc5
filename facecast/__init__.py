"""facecast: self-hosted digital-human video factory."""

__version__ = "0.1.0"
