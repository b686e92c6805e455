"""Backtests: a file replayed through ingest, scoring, labels and retraining."""
