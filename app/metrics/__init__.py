"""GET /metrics in Prometheus format (METRICS_ENABLED, METRICS_TOKEN)."""
