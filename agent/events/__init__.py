"""The MQTT-over-WebSocket event channel client."""
