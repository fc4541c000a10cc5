"""SQL job store: tables, sessions and migrations."""
