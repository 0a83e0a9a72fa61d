"""Async REST client and the wire models shared with the server."""
