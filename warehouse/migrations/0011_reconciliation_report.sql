-- The reconciliation report: one row per run, stream and ERP day (`erpbi reconcile`, and the
-- stack's nightly T-1 run). The ERP's keys and versions of the day (listed by `modified`,
-- Beijing) against the warehouse's DWD (FINAL); what differed was re-landed through the
-- connectors and counted again once it landed. `erpbi backfill status` prints the newest
-- row of each stream and day; ops_reconciliation_latest feeds the alert on what is left.

CREATE TABLE IF NOT EXISTS ops_reconciliation
(
    run_id           String COMMENT 'One reconciliation run (every stream and day it covered)',
    run_at           DateTime('Asia/Shanghai') COMMENT 'When the run finished this stream and day',
    trigger          LowCardinality(String) COMMENT 'nightly (the stack''s T-1 job) or manual (erpbi reconcile)',
    stream           LowCardinality(String) COMMENT 'inventory, outbound, refund or aftersale_received',
    day              Date COMMENT 'ERP day reconciled (modified, Asia/Shanghai)',
    erp_rows         UInt64 COMMENT 'Rows the ERP lists for the day',
    warehouse_rows   UInt64 COMMENT 'Rows the DWD holds for the day (FINAL, by modified)',
    missing          UInt64 COMMENT 'ERP keys the warehouse did not have',
    stale            UInt64 COMMENT 'ERP keys the warehouse had at an older version (ts)',
    extra            UInt64 COMMENT 'Warehouse keys of the day the ERP does not list for it (modified again later, or deleted in the ERP)',
    repaired         UInt64 COMMENT 'Missing and stale keys re-landed and found at the ERP version afterwards',
    rewidened        UInt64 COMMENT 'Facts of earlier days whose late dimension was joined again',
    left_over        UInt64 COMMENT 'Differences still there after the repair: the alert fires on these',
    erp_amount       Decimal(38, 4) COMMENT 'ERP amount of the day (pay_amount, refund or qty by stream)',
    warehouse_amount Decimal(38, 4) COMMENT 'The same sum over the warehouse''s rows of the day after the repair',
    shops_differ     UInt32 COMMENT 'Shops whose count or amount differs between the ERP and the DWD after the repair',
    serving_shops_differ UInt32 COMMENT 'Shops whose serving-layer (DWS) rows or amount of the day differ from the DWD''s after the refresh',
    calls            UInt32 COMMENT 'ERP calls the day cost (its listing pages, and re-widening lookups)',
    seconds          Float64 COMMENT 'Time the stream and day took',
    sample_keys      Array(String) COMMENT 'Up to 20 keys that differed, for a person to look at'
)
ENGINE = MergeTree
ORDER BY (day, stream, run_at)
TTL run_at + INTERVAL 400 DAY
COMMENT 'Reconciliation report: ERP vs warehouse per stream and day, and what was repaired';

CREATE VIEW IF NOT EXISTS ops_reconciliation_latest
AS SELECT stream, day,
          argMax(run_id, run_at) AS run_id, max(run_at) AS at, argMax(trigger, run_at) AS trigger,
          argMax(erp_rows, run_at) AS erp_rows, argMax(warehouse_rows, run_at) AS warehouse_rows,
          argMax(missing, run_at) AS missing, argMax(stale, run_at) AS stale,
          argMax(extra, run_at) AS extra, argMax(repaired, run_at) AS repaired,
          argMax(rewidened, run_at) AS rewidened, argMax(left_over, run_at) AS left_over,
          argMax(shops_differ, run_at) AS shops_differ,
          argMax(serving_shops_differ, run_at) AS serving_shops_differ, argMax(calls, run_at) AS calls
FROM ops_reconciliation
GROUP BY stream, day
COMMENT 'The newest reconciliation of each stream and day';
