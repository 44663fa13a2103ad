"""Superset big screens: configuration, service control and dashboards as code."""
