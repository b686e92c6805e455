"""Monitoring: the dbt runner, dashboard panels, Grafana provisioning and pushes, the
self-contained HTML report, scans for card numbers at rest."""
