"""The foundation every layer stands on: settings, the store, privacy, locks, Redis keys, logs, language tags."""
