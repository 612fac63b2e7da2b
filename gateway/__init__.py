"""Gateway: stateless aiohttp WebSocket edge; validates client messages, publishes audio to NATS, relays events."""
