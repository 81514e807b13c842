"""Voxbase: the backend every voice-AI product needs."""

__version__ = "0.1.0"
