"""Accounts: users, profiles, roles, passwords and Google identities, sessions, API keys."""
