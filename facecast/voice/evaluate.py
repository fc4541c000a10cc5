"""Phoneme-level lip-sync metric, kept here for voice callers: the implementation lives in the engine's eval."""

from facecast.engine.evaluate import bilabial_closure_rate, closed_threshold_for

__all__ = ["bilabial_closure_rate", "closed_threshold_for"]
