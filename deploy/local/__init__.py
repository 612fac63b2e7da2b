"""`make cluster`: the whole system on loopback with a 3-node NATS cluster, two gateways and two of each worker."""
