-- The two item x SKU serving tables are rebuilt from two slices instead of one.
--
-- 0003 rebuilt them every 60 s from the whole of dwd_sale_out_item FINAL, which is 10 M
-- rows a year, so a rebuild took about 12 s of both cores. A dashboard waits for those
-- cores, and 30 screens at once missed their 200 ms p99 while the rebuild ran.
--
-- Each table is now built from two slices of the DWD partitions. A DWD fact never leaves
-- its partition, which is the month it was created in, toYYYYMM(ifNull(created, modified)):
-- - <name>_recent holds the documents created this month and last month. It is rebuilt
--   every 60 s, as before, and reads only those partitions.
-- - <name>_history holds the documents created before this month. It is rebuilt every
--   hour, and by `erpbi warehouse refresh`. A change to a document older than a month
--   (rare: a late shipment or cancellation) therefore shows within the hour.
-- - A view with the old name reads this month and last month from _recent, and every
--   older month from _history. Metric views and queries do not change.
--
-- Each slice is FINAL over whole partitions, so every row is exactly the latest version,
-- as in 0003. The view's boundary month (last month) lies inside both slices until the
-- next month begins. Each slice therefore covers its side of the boundary at every
-- moment, including just after midnight on the 1st, before the hourly rebuild has run.
--
-- Each table's query is written once, as a plain view over every month (*_all, never
-- read by dashboards); the two refreshes select their months from it, and ClickHouse
-- pushes that month condition down to the partitions it reads.
--
-- Rows are grouped by created_month too. So a (day, shop, SKU) group may have one row
-- per month its documents were created in. Every reader sums the rows or merges their
-- states, and a document has one created month, so no total is counted twice.

DROP TABLE IF EXISTS rmv_sale_out_item_daily;
DROP TABLE IF EXISTS dws_sale_out_item_daily;
DROP TABLE IF EXISTS rmv_sku_aftersale_daily;
DROP TABLE IF EXISTS dws_sku_aftersale_daily;

CREATE VIEW IF NOT EXISTS dws_sale_out_item_daily_all
AS SELECT toDate(ifNull(io_date, modified)) AS day, shop_id, sku_id,
          toYYYYMM(ifNull(created, modified)) AS created_month,
          any(shop_owner) AS shop_owner, any(platform) AS platform,
          any(sku_name) AS sku_name, any(category) AS category,
          uniqExactState(io_id) AS documents,
          toInt64(sum(qty)) AS units,
          sum(toDecimal128(sale_amount, 4)) AS amount
FROM dwd_sale_out_item FINAL
WHERE status = 'Confirmed'
GROUP BY day, shop_id, sku_id, created_month
SETTINGS prefer_column_name_to_alias = 1, do_not_merge_across_partitions_select_final = 1
COMMENT 'What the item x SKU serving slices are built from (reads DWD with FINAL: not for dashboards)';

CREATE TABLE IF NOT EXISTS dws_sale_out_item_daily_recent
(
    day           Date COMMENT 'Outbound day (io_date, else modified), GMT+8',
    shop_id       Int64 COMMENT 'Shop id',
    sku_id        String COMMENT 'SKU id',
    created_month UInt32 COMMENT 'Month the documents were created, YYYYMM (their DWD partition)',
    shop_owner    String COMMENT 'Shop owner (shop sheet)',
    platform      LowCardinality(String) COMMENT 'Shop platform',
    sku_name      String COMMENT 'SKU name',
    category      LowCardinality(String) COMMENT 'SKU category',
    documents     AggregateFunction(uniqExact, String) COMMENT 'Distinct confirmed io_id with this SKU (state)',
    units         Int64 COMMENT 'Confirmed outbound units',
    amount        Decimal(38, 4) COMMENT 'Confirmed outbound line amount (sale_amount)'
)
ENGINE = MergeTree
ORDER BY (day, shop_id, sku_id)
COMMENT 'DWS: confirmed outbound items per day x shop x SKU, documents created this month and last (rebuilt every 60 s)';

CREATE TABLE IF NOT EXISTS dws_sale_out_item_daily_history AS dws_sale_out_item_daily_recent
COMMENT 'DWS: confirmed outbound items per day x shop x SKU, documents created before this month (rebuilt every hour)';

CREATE MATERIALIZED VIEW IF NOT EXISTS rmv_sale_out_item_daily_recent
REFRESH EVERY 60 SECOND TO dws_sale_out_item_daily_recent AS
SELECT * FROM dws_sale_out_item_daily_all
WHERE created_month >= toYYYYMM(addMonths(toDate(now(), 'Asia/Shanghai'), -1))
SETTINGS prefer_column_name_to_alias = 1, do_not_merge_across_partitions_select_final = 1;

CREATE MATERIALIZED VIEW IF NOT EXISTS rmv_sale_out_item_daily_history
REFRESH EVERY 1 HOUR TO dws_sale_out_item_daily_history AS
SELECT * FROM dws_sale_out_item_daily_all
WHERE created_month < toYYYYMM(toDate(now(), 'Asia/Shanghai'))
SETTINGS prefer_column_name_to_alias = 1, do_not_merge_across_partitions_select_final = 1;

CREATE VIEW IF NOT EXISTS dws_sale_out_item_daily
AS SELECT * FROM dws_sale_out_item_daily_recent
WHERE created_month >= toYYYYMM(addMonths(toDate(now(), 'Asia/Shanghai'), -1))
UNION ALL
SELECT * FROM dws_sale_out_item_daily_history
WHERE created_month < toYYYYMM(addMonths(toDate(now(), 'Asia/Shanghai'), -1))
COMMENT 'DWS: confirmed outbound items per day x shop x SKU x created month (_recent for this month and last, _history before)';

CREATE VIEW IF NOT EXISTS dws_sku_aftersale_daily_all
AS SELECT day, sku_id, created_month, sum(out_documents) AS out_documents,
          sum(as_documents) AS as_documents
FROM (
    SELECT toDate(ifNull(io_date, modified)) AS day, sku_id,
           toYYYYMM(ifNull(created, modified)) AS created_month,
           uniqExact(io_id) AS out_documents, toUInt64(0) AS as_documents
    FROM dwd_sale_out_item FINAL
    WHERE status = 'Confirmed'
    GROUP BY day, sku_id, created_month
    UNION ALL
    SELECT toDate(ifNull(as_date, modified)) AS day, sku_id,
           toYYYYMM(ifNull(created, modified)) AS created_month,
           toUInt64(0) AS out_documents, uniqExact(as_id) AS as_documents
    FROM dwd_refund_item FINAL
    WHERE status != 'Cancelled'
    GROUP BY day, sku_id, created_month
)
GROUP BY day, sku_id, created_month
SETTINGS do_not_merge_across_partitions_select_final = 1
COMMENT 'What the per-SKU after-sale serving slices are built from (reads DWD with FINAL: not for dashboards)';

CREATE TABLE IF NOT EXISTS dws_sku_aftersale_daily_recent
(
    day           Date COMMENT 'Day (outbound: io_date; after-sale: as_date), GMT+8',
    sku_id        String COMMENT 'SKU id',
    created_month UInt32 COMMENT 'Month the documents were created, YYYYMM (their DWD partition)',
    out_documents UInt64 COMMENT 'Confirmed outbound documents with this SKU',
    as_documents  UInt64 COMMENT 'After-sale documents (not cancelled) with this SKU'
)
ENGINE = MergeTree
ORDER BY (day, sku_id)
COMMENT 'DWS: outbound and after-sale documents per day x SKU, documents created this month and last (rebuilt every 60 s)';

CREATE TABLE IF NOT EXISTS dws_sku_aftersale_daily_history AS dws_sku_aftersale_daily_recent
COMMENT 'DWS: outbound and after-sale documents per day x SKU, documents created before this month (rebuilt every hour)';

CREATE MATERIALIZED VIEW IF NOT EXISTS rmv_sku_aftersale_daily_recent
REFRESH EVERY 60 SECOND TO dws_sku_aftersale_daily_recent AS
SELECT * FROM dws_sku_aftersale_daily_all
WHERE created_month >= toYYYYMM(addMonths(toDate(now(), 'Asia/Shanghai'), -1))
SETTINGS do_not_merge_across_partitions_select_final = 1;

CREATE MATERIALIZED VIEW IF NOT EXISTS rmv_sku_aftersale_daily_history
REFRESH EVERY 1 HOUR TO dws_sku_aftersale_daily_history AS
SELECT * FROM dws_sku_aftersale_daily_all
WHERE created_month < toYYYYMM(toDate(now(), 'Asia/Shanghai'))
SETTINGS do_not_merge_across_partitions_select_final = 1;

CREATE VIEW IF NOT EXISTS dws_sku_aftersale_daily
AS SELECT * FROM dws_sku_aftersale_daily_recent
WHERE created_month >= toYYYYMM(addMonths(toDate(now(), 'Asia/Shanghai'), -1))
UNION ALL
SELECT * FROM dws_sku_aftersale_daily_history
WHERE created_month < toYYYYMM(addMonths(toDate(now(), 'Asia/Shanghai'), -1))
COMMENT 'DWS: outbound and after-sale documents per day x SKU x created month (_recent for this month and last, _history before)';
