"""Test support: a real nats-server, service processes, speech audio."""
