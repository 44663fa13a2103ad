-- When each row landed, indexed: the tables every writer feeds (facts, dimensions,
-- inventory) get a min/max index on _loaded_at. Rows land in time order, so a part's
-- granules cover short, rising spans, and "what landed in the last few seconds" reads only
-- the newest granules, not the whole column. Two single-machine servers (the cluster
-- profile) ask each other exactly that every few seconds (warehouse/server/peer_sync.py);
-- freshness checks and the reconciliation's recent windows profit too.

ALTER TABLE dws_inventory ADD INDEX IF NOT EXISTS idx_loaded_at _loaded_at TYPE minmax GRANULARITY 1;
ALTER TABLE dwd_sale_out ADD INDEX IF NOT EXISTS idx_loaded_at _loaded_at TYPE minmax GRANULARITY 1;
ALTER TABLE dwd_sale_out_item ADD INDEX IF NOT EXISTS idx_loaded_at _loaded_at TYPE minmax GRANULARITY 1;
ALTER TABLE dwd_refund ADD INDEX IF NOT EXISTS idx_loaded_at _loaded_at TYPE minmax GRANULARITY 1;
ALTER TABLE dwd_refund_item ADD INDEX IF NOT EXISTS idx_loaded_at _loaded_at TYPE minmax GRANULARITY 1;
ALTER TABLE dwd_aftersale_received ADD INDEX IF NOT EXISTS idx_loaded_at _loaded_at TYPE minmax GRANULARITY 1;
ALTER TABLE dwd_aftersale_received_item ADD INDEX IF NOT EXISTS idx_loaded_at _loaded_at TYPE minmax GRANULARITY 1;
ALTER TABLE dim_sku ADD INDEX IF NOT EXISTS idx_loaded_at _loaded_at TYPE minmax GRANULARITY 1;
ALTER TABLE dim_shop ADD INDEX IF NOT EXISTS idx_loaded_at _loaded_at TYPE minmax GRANULARITY 1;
ALTER TABLE dim_warehouse ADD INDEX IF NOT EXISTS idx_loaded_at _loaded_at TYPE minmax GRANULARITY 1;

-- existing parts get the index too (new parts get it as they are written)
ALTER TABLE dws_inventory MATERIALIZE INDEX idx_loaded_at;
ALTER TABLE dwd_sale_out MATERIALIZE INDEX idx_loaded_at;
ALTER TABLE dwd_sale_out_item MATERIALIZE INDEX idx_loaded_at;
ALTER TABLE dwd_refund MATERIALIZE INDEX idx_loaded_at;
ALTER TABLE dwd_refund_item MATERIALIZE INDEX idx_loaded_at;
ALTER TABLE dwd_aftersale_received MATERIALIZE INDEX idx_loaded_at;
ALTER TABLE dwd_aftersale_received_item MATERIALIZE INDEX idx_loaded_at;
ALTER TABLE dim_sku MATERIALIZE INDEX idx_loaded_at;
ALTER TABLE dim_shop MATERIALIZE INDEX idx_loaded_at;
ALTER TABLE dim_warehouse MATERIALIZE INDEX idx_loaded_at;
