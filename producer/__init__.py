"""Traffic for pgfraud: synthetic card streams, Kaggle-layout CSV import, PAN tokenization."""

from __future__ import annotations
