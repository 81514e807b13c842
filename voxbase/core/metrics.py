"""Prometheus metrics of the service (served at /metrics)."""

from prometheus_client import Counter, Histogram

REQUESTS = Counter("voxbase_http_requests_total", "HTTP requests", ["method", "route", "status"])
LATENCY = Histogram("voxbase_http_request_seconds", "HTTP request latency", ["method", "route"])
