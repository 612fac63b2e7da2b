"""Tests of the tools service (tools_worker): discovery, bad input, relevance, REST backend, concurrency."""
