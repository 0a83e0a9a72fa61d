"""Endpoint lifecycle, conference state, publisher and viewer."""
