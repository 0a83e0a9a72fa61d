"""The Auvious platform, locally: RTC API, token endpoint, MQTT event channel, media router."""
