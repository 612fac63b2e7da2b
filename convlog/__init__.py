"""`python -m convlog`: export the conversation log as JSONL and print reports (docs/conversation_log.md)."""
