"""Ground truth: analysts' label files, the review queue and simulated analysts."""
