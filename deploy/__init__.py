"""Deployment as code: the Grafana dashboard generator (the manifests, Helm values and rules are data files)."""
