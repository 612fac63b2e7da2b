"""What the local agent (local_agent/) and the dialog worker (dialog_worker/) agree on beyond the CX API itself.

The local agent reports its own processing time in `QueryResult.diagnostic_info` under this key
(docs/local_agent.md); the dialog worker reads it into the agent-processing histogram.
"""

AGENT_TIME_KEY = "local_agent_processing_ms"
