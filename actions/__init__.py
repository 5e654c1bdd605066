"""Maak's custom actions, run by the rasa-sdk action server (`rasa run actions --actions actions`)."""
