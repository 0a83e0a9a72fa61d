"""Auvious platform client side: API client, event channel, participant, scenarios."""
