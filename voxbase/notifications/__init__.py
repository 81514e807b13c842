"""Notifications: in-app (list, unread count, read marks, a live stream) and by email."""
