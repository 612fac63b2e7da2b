"""Deployment checks: image, Kubernetes overlays, NATS permissions, alerts, dashboard, exported metrics."""
