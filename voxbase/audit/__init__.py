"""Audit: one row per state change, written in the same transaction; the system log sink."""
