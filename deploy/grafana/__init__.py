"""The voicechat Grafana dashboard, generated from code (`python -m deploy.grafana.dashboard`)."""
