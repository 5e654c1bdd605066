"""The counsellor console: its page, its HTTP API and its live events."""
