"""Adapters to the outside world, each behind a small interface with an offline default."""
