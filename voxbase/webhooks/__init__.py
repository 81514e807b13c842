"""Outgoing webhooks: customer endpoints, Standard Webhooks signatures, the delivery outbox."""
