"""Telephony: phone calls (and later SMS and emails) placed for a user through a provider."""
