"""Run the real stack for tests, chaos and the bench: nats-server, services as processes, free ports, real speech."""
