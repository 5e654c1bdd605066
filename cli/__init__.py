"""The `maak` command, on top of every other package: it starts the service and hands work to the tools."""
