"""`make chaos`: the stack with two of each worker and two gateways on loopback, under injected faults."""
