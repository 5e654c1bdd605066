"""Live handoff to a counsellor: cases, their queue and the relay."""
