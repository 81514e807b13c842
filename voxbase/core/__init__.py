"""Cross-cutting building blocks: configuration, database, errors, clock, security."""
