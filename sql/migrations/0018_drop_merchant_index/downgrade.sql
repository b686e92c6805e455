create index transactions_merchant_transacted_at_idx
    on ingest.transactions (merchant, transacted_at);
