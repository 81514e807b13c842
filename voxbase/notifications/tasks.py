"""Notifications have no jobs of their own; a worker imports this module so that the domain
events its jobs publish (renewals: invoices, plan changes) make notifications there too."""

from voxbase.notifications import service as _subscribes  # noqa: F401 (domain-event handlers)
