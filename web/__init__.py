"""Serving Maak's own web pages (the chat and the console) with headers that keep nothing on the device."""
