"""One module per tab of the web UI; each builds its widgets and wires its own events."""
