"""The protocol v1 terminal client (`python -m voice_client`) and the recording client for tests, chaos, bench."""
