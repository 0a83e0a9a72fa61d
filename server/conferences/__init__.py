"""Conferences: live state in memory, their events, and the `/rtc-api/conferences` routes."""
