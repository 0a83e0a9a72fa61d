"""Synthetic media sources, sinks, analysers and statistics."""
