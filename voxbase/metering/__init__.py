"""Metering: usage events, quotas, reservations, credit grants, rollups, entitlements."""
