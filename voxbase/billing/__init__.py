"""Billing: plan catalog, subscriptions, plan changes, invoices, payments, providers."""
