"""Contracts and plumbing shared by every service: subjects, schemas, settings, logs, metrics, NATS, audio."""
