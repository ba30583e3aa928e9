"""Monitoring: events and alarms recorded from what OpenBCS does, metrics from a pluggable source, and /metrics."""
