"""Authorization-time decisions over HTTP (``pgfraud serve``): a transaction is stored,
its features computed, scored by the champion and decided in one database transaction
while the terminal waits. See docs/api.md."""
