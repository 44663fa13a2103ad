-- DWS serving layer: small pre-aggregated tables the dashboards and metric views read.
--
-- Layers: ODS = the raw Kafka topics (erp.ods.<stream>, kept 7 days); DWD = the
-- deduplicated-by-merge wide tables the Flink job lands (ReplacingMergeTree, 0002);
-- DWS = this file. A DWD table may hold several versions of a key until a merge, so a
-- correct read needs FINAL, which is too slow for 30 screens over 10 M rows. Each DWS
-- table is therefore the output of a refreshable materialized view that reads its DWD
-- source WITH FINAL and replaces the table atomically: a dashboard query reads only the
-- DWS table (no FINAL, no argMax) and gets exactly the answer FINAL gave at the last
-- refresh. Refresh periods: 10 s for inventory and the backlog, 30 s for documents, 60 s
-- for item x SKU grain (the costliest: about 10 M rows to re-read); FINAL runs per
-- partition (do_not_merge_across_partitions_select_final) because 0002 keeps every
-- version of a key in one partition.
--
-- Partitions: DWS tables are rebuilt whole on each refresh, so they are not partitioned;
-- their sorting keys start with the day so date-bounded queries read only their days.
-- TTLs: DWD facts keep 3 years (finance looks back two years plus the current one), the
-- dimensions and inventory snapshot have none (they are current state, not history).

ALTER TABLE dwd_sale_out MODIFY TTL toDate(ifNull(created, modified)) + INTERVAL 3 YEAR;
ALTER TABLE dwd_sale_out_item MODIFY TTL toDate(ifNull(created, modified)) + INTERVAL 3 YEAR;
ALTER TABLE dwd_refund MODIFY TTL toDate(ifNull(created, modified)) + INTERVAL 3 YEAR;
ALTER TABLE dwd_refund_item MODIFY TTL toDate(ifNull(created, modified)) + INTERVAL 3 YEAR;
ALTER TABLE dwd_aftersale_received MODIFY TTL toDate(modified) + INTERVAL 3 YEAR;
ALTER TABLE dwd_aftersale_received_item MODIFY TTL toDate(modified) + INTERVAL 3 YEAR;

CREATE TABLE IF NOT EXISTS dws_inventory_current
(
    sku_id         String COMMENT 'ERP SKU id',
    wms_co_id      Int64 COMMENT 'ERP warehouse id',
    warehouse_name String COMMENT 'Warehouse name',
    province       LowCardinality(String) COMMENT 'Warehouse province (map screen)',
    sku_name       String COMMENT 'SKU name',
    category       LowCardinality(String) COMMENT 'SKU category',
    brand          LowCardinality(String) COMMENT 'SKU brand',
    cost_price     Decimal(18, 4) COMMENT 'SKU cost price',
    qty            Int64 COMMENT 'On-hand quantity (主仓实际库存)',
    order_lock     Int64 COMMENT 'Quantity locked by orders',
    virtual_qty    Int64 COMMENT 'Virtual stock',
    purchase_qty   Int64 COMMENT 'Purchase in transit',
    return_qty     Int64 COMMENT 'Sales-return warehouse quantity',
    in_qty         Int64 COMMENT 'Inbound warehouse quantity',
    defective_qty  Int64 COMMENT 'Defective quantity',
    lock_qty       Int64 COMMENT 'Manually locked quantity',
    min_qty        Int64 COMMENT 'Safety stock lower bound',
    max_qty        Int64 COMMENT 'Safety stock upper bound',
    available_qty  Int64 COMMENT 'qty + virtual_qty - order_lock - lock_qty',
    stock_value    Decimal(18, 4) COMMENT 'qty x cost price',
    modified       DateTime('Asia/Shanghai') COMMENT 'Last modified in the ERP (GMT+8)'
)
ENGINE = MergeTree
ORDER BY (sku_id, wms_co_id)
COMMENT 'DWS: current inventory per SKU x warehouse (dws_inventory FINAL, refreshed every 10 s)';

CREATE MATERIALIZED VIEW IF NOT EXISTS rmv_inventory_current
REFRESH EVERY 10 SECOND TO dws_inventory_current AS
SELECT sku_id, wms_co_id, warehouse_name, province, sku_name, category, brand, cost_price,
       qty, order_lock, virtual_qty, purchase_qty, return_qty, in_qty, defective_qty,
       lock_qty, min_qty, max_qty, available_qty, stock_value, modified
FROM dws_inventory FINAL;

CREATE TABLE IF NOT EXISTS dws_sku_sales
(
    sku_id        String COMMENT 'ERP SKU id',
    units_7d      Int64 COMMENT 'Confirmed outbound units, last 7 days including today',
    units_30d     Int64 COMMENT 'Confirmed outbound units, last 30 days including today',
    last_outbound Nullable(DateTime('Asia/Shanghai')) COMMENT 'Latest confirmed outbound time within 30 days'
)
ENGINE = MergeTree
ORDER BY sku_id
COMMENT 'DWS: recent outbound per SKU, for turnover, cover and slow movers (refreshed every 60 s)';

CREATE MATERIALIZED VIEW IF NOT EXISTS rmv_sku_sales
REFRESH EVERY 60 SECOND TO dws_sku_sales AS
SELECT sku_id,
       toInt64(sumIf(qty, toDate(io_date) > toDate(now(), 'Asia/Shanghai') - 7)) AS units_7d,
       toInt64(sum(qty)) AS units_30d,
       max(io_date) AS last_outbound
FROM dwd_sale_out_item FINAL
WHERE status = 'Confirmed' AND io_date IS NOT NULL AND toDate(io_date) > toDate(now(), 'Asia/Shanghai') - 30
GROUP BY sku_id
SETTINGS prefer_column_name_to_alias = 1, do_not_merge_across_partitions_select_final = 1;

CREATE TABLE IF NOT EXISTS dws_sale_out_hourly
(
    hour              DateTime('Asia/Shanghai') COMMENT 'Hour of the outbound time (io_date, else modified), GMT+8',
    shop_id           Int64 COMMENT 'Shop id',
    shop_name         String COMMENT 'Shop name',
    platform          LowCardinality(String) COMMENT 'Shop platform',
    shop_owner        String COMMENT 'Shop owner (shop sheet)',
    logistics_company LowCardinality(String) COMMENT 'Carrier',
    documents         UInt64 COMMENT 'Outbound documents, every status',
    confirmed         UInt64 COMMENT 'Confirmed (shipped) outbound documents',
    voided            UInt64 COMMENT 'Cancelled or deleted outbound documents',
    orders            AggregateFunction(uniqExact, String) COMMENT 'Distinct o_id of confirmed documents (state)',
    pay_amount        Decimal(38, 4) COMMENT 'Amount payable of confirmed documents',
    free_amount       Decimal(38, 4) COMMENT 'Discount of confirmed documents',
    freight           Decimal(38, 4) COMMENT 'Freight of confirmed documents',
    platform_fee      Decimal(38, 10) COMMENT 'pay_amount x shop platform fee rate, confirmed documents',
    lead_seconds_sum  Int64 COMMENT 'Sum of pay -> io_date seconds, confirmed documents with both times',
    lead_seconds_n    UInt64 COMMENT 'Number of documents in lead_seconds_sum',
    lead_seconds      AggregateFunction(quantileExact(0.9), Int64) COMMENT 'pay -> io_date seconds (state, for p90)'
)
ENGINE = MergeTree
ORDER BY (hour, shop_id, logistics_company)
COMMENT 'DWS: outbound documents per hour x shop x carrier (dwd_sale_out FINAL, refreshed every 30 s)';

CREATE MATERIALIZED VIEW IF NOT EXISTS rmv_sale_out_hourly
REFRESH EVERY 30 SECOND TO dws_sale_out_hourly AS
SELECT toStartOfHour(ifNull(io_date, modified)) AS hour,
       shop_id,
       any(shop_name) AS shop_name,
       any(platform) AS platform,
       any(shop_owner) AS shop_owner,
       logistics_company,
       count() AS documents,
       countIf(status = 'Confirmed') AS confirmed,
       countIf(status IN ('Cancelled', 'Delete')) AS voided,
       uniqExactStateIf(o_id, status = 'Confirmed') AS orders,
       sumIf(toDecimal128(pay_amount, 4), status = 'Confirmed') AS pay_amount,
       sumIf(toDecimal128(free_amount, 4), status = 'Confirmed') AS free_amount,
       sumIf(toDecimal128(freight, 4), status = 'Confirmed') AS freight,
       sumIf(toDecimal128(pay_amount, 4) * toDecimal128(platform_fee_rate, 6), status = 'Confirmed') AS platform_fee,
       toInt64(sumIf(dateDiff('second', pay_date, io_date), status = 'Confirmed' AND pay_date IS NOT NULL AND io_date IS NOT NULL)) AS lead_seconds_sum,
       countIf(status = 'Confirmed' AND pay_date IS NOT NULL AND io_date IS NOT NULL) AS lead_seconds_n,
       quantileExactStateIf(0.9)(toInt64(dateDiff('second', pay_date, io_date)), status = 'Confirmed' AND pay_date IS NOT NULL AND io_date IS NOT NULL) AS lead_seconds
FROM dwd_sale_out FINAL
GROUP BY hour, shop_id, logistics_company
SETTINGS prefer_column_name_to_alias = 1, do_not_merge_across_partitions_select_final = 1;

CREATE TABLE IF NOT EXISTS dws_sale_out_pending
(
    io_id     String COMMENT 'Outbound document id',
    shop_id   Int64 COMMENT 'Shop id',
    shop_name String COMMENT 'Shop name',
    shop_owner String COMMENT 'Shop owner (shop sheet)',
    status    LowCardinality(String) COMMENT 'ERP status (WaitConfirm, OuterConfirming ...)',
    created   DateTime('Asia/Shanghai') COMMENT 'Document created (GMT+8)'
)
ENGINE = MergeTree
ORDER BY (shop_id, io_id)
COMMENT 'DWS: outbound documents not yet shipped (backlog), refreshed every 15 s';

CREATE MATERIALIZED VIEW IF NOT EXISTS rmv_sale_out_pending
REFRESH EVERY 15 SECOND TO dws_sale_out_pending AS
SELECT io_id, shop_id, shop_name, shop_owner, status, ifNull(created, modified) AS created
FROM dwd_sale_out FINAL
WHERE status IN ('WaitConfirm', 'OuterConfirming')
SETTINGS do_not_merge_across_partitions_select_final = 1;

CREATE TABLE IF NOT EXISTS dws_sale_out_item_daily
(
    day        Date COMMENT 'Outbound day (io_date, else modified), GMT+8',
    shop_id    Int64 COMMENT 'Shop id',
    sku_id     String COMMENT 'SKU id',
    shop_owner String COMMENT 'Shop owner (shop sheet)',
    platform   LowCardinality(String) COMMENT 'Shop platform',
    sku_name   String COMMENT 'SKU name',
    category   LowCardinality(String) COMMENT 'SKU category',
    documents  AggregateFunction(uniqExact, String) COMMENT 'Distinct confirmed io_id with this SKU (state)',
    units      Int64 COMMENT 'Confirmed outbound units',
    amount     Decimal(38, 4) COMMENT 'Confirmed outbound line amount (sale_amount)'
)
ENGINE = MergeTree
ORDER BY (day, shop_id, sku_id)
COMMENT 'DWS: confirmed outbound items per day x shop x SKU (dwd_sale_out_item FINAL, refreshed every 60 s)';

CREATE MATERIALIZED VIEW IF NOT EXISTS rmv_sale_out_item_daily
REFRESH EVERY 60 SECOND TO dws_sale_out_item_daily AS
SELECT toDate(ifNull(io_date, modified)) AS day, shop_id, sku_id,
       any(shop_owner) AS shop_owner, any(platform) AS platform,
       any(sku_name) AS sku_name, any(category) AS category,
       uniqExactState(io_id) AS documents,
       toInt64(sum(qty)) AS units,
       sum(toDecimal128(sale_amount, 4)) AS amount
FROM dwd_sale_out_item FINAL
WHERE status = 'Confirmed'
GROUP BY day, shop_id, sku_id
SETTINGS prefer_column_name_to_alias = 1, do_not_merge_across_partitions_select_final = 1;

CREATE TABLE IF NOT EXISTS dws_refund_daily
(
    day             Date COMMENT 'After-sale day (as_date, else modified), GMT+8',
    shop_id         Int64 COMMENT 'Shop id',
    shop_owner      String COMMENT 'Shop owner (shop sheet)',
    platform        LowCardinality(String) COMMENT 'Shop platform',
    type            LowCardinality(String) COMMENT 'After-sale type',
    question_type   LowCardinality(String) COMMENT 'Reason (问题类型)',
    status_label    LowCardinality(String) COMMENT 'Status in Chinese',
    documents       UInt64 COMMENT 'After-sale documents, every status',
    confirmed       UInt64 COMMENT 'Confirmed after-sale documents',
    cancelled       UInt64 COMMENT 'Cancelled after-sale documents',
    refund          Decimal(38, 4) COMMENT 'Refund amount of confirmed documents',
    handling_sum    Int64 COMMENT 'Sum of as_date -> confirm_date seconds, confirmed documents',
    handling_n      UInt64 COMMENT 'Documents in handling_sum'
)
ENGINE = MergeTree
ORDER BY (day, shop_id, type, question_type, status_label)
COMMENT 'DWS: after-sale documents per day x shop x type x reason x status (refreshed every 30 s)';

CREATE MATERIALIZED VIEW IF NOT EXISTS rmv_refund_daily
REFRESH EVERY 30 SECOND TO dws_refund_daily AS
SELECT toDate(ifNull(as_date, modified)) AS day, shop_id,
       any(shop_owner) AS shop_owner, any(platform) AS platform,
       type, question_type, status_label,
       count() AS documents,
       countIf(status = 'Confirmed') AS confirmed,
       countIf(status = 'Cancelled') AS cancelled,
       sumIf(toDecimal128(refund, 4), status = 'Confirmed') AS refund,
       toInt64(sumIf(dateDiff('second', as_date, confirm_date), status = 'Confirmed' AND as_date IS NOT NULL AND confirm_date IS NOT NULL)) AS handling_sum,
       countIf(status = 'Confirmed' AND as_date IS NOT NULL AND confirm_date IS NOT NULL) AS handling_n
FROM dwd_refund FINAL
GROUP BY day, shop_id, type, question_type, status_label
SETTINGS prefer_column_name_to_alias = 1, do_not_merge_across_partitions_select_final = 1;

CREATE TABLE IF NOT EXISTS dws_refund_item_daily
(
    day           Date COMMENT 'After-sale day (as_date, else modified), GMT+8',
    shop_id       Int64 COMMENT 'Shop id',
    sku_id        String COMMENT 'SKU id',
    shop_owner    String COMMENT 'Shop owner (shop sheet)',
    sku_name      String COMMENT 'SKU name',
    category      LowCardinality(String) COMMENT 'SKU category',
    documents     AggregateFunction(uniqExact, String) COMMENT 'Distinct as_id with this SKU, cancelled excluded (state)',
    units         Int64 COMMENT 'Units applied for, cancelled excluded',
    returned      Int64 COMMENT 'Units actually returned (r_qty)',
    defective     Int64 COMMENT 'Defective units among returns',
    amount        Decimal(38, 4) COMMENT 'After-sale line amount, cancelled excluded'
)
ENGINE = MergeTree
ORDER BY (day, shop_id, sku_id)
COMMENT 'DWS: after-sale items per day x shop x SKU, cancelled documents excluded (refreshed every 30 s)';

CREATE MATERIALIZED VIEW IF NOT EXISTS rmv_refund_item_daily
REFRESH EVERY 30 SECOND TO dws_refund_item_daily AS
SELECT toDate(ifNull(as_date, modified)) AS day, shop_id, sku_id,
       any(shop_owner) AS shop_owner, any(sku_name) AS sku_name, any(category) AS category,
       uniqExactState(as_id) AS documents,
       toInt64(sum(qty)) AS units,
       toInt64(sum(r_qty)) AS returned,
       toInt64(sum(defective_qty)) AS defective,
       sum(toDecimal128(amount, 4)) AS amount
FROM dwd_refund_item FINAL
WHERE status != 'Cancelled'
GROUP BY day, shop_id, sku_id
SETTINGS prefer_column_name_to_alias = 1, do_not_merge_across_partitions_select_final = 1;

CREATE TABLE IF NOT EXISTS dws_received_daily
(
    day           Date COMMENT 'Receipt day (io_date, else modified), GMT+8',
    shop_id       Int64 COMMENT 'Shop id',
    shop_owner    String COMMENT 'Shop owner (shop sheet)',
    wh_id_label   LowCardinality(String) COMMENT 'Warehouse kind in Chinese',
    receipts      UInt64 COMMENT 'Return receipt documents',
    on_time       UInt64 COMMENT 'Receipts within 7 days of their after-sale date',
    with_refund   UInt64 COMMENT 'Receipts whose after-sale document is known',
    units         Int64 COMMENT 'Units received'
)
ENGINE = MergeTree
ORDER BY (day, shop_id, wh_id_label)
COMMENT 'DWS: after-sale receipts per day x shop x warehouse kind (refreshed every 30 s)';

CREATE MATERIALIZED VIEW IF NOT EXISTS rmv_received_daily
REFRESH EVERY 30 SECOND TO dws_received_daily AS
SELECT toDate(ifNull(r.io_date, r.modified)) AS day, r.shop_id AS shop_id,
       any(r.shop_owner) AS shop_owner, r.wh_id_label AS wh_id_label,
       count() AS receipts,
       countIf(a.as_date IS NOT NULL AND r.io_date IS NOT NULL
               AND dateDiff('second', a.as_date, r.io_date) <= 7 * 86400) AS on_time,
       countIf(a.as_date IS NOT NULL) AS with_refund,
       toInt64(sum(u.units)) AS units
FROM (SELECT * FROM dwd_aftersale_received FINAL) AS r
LEFT JOIN (SELECT as_id, as_date FROM dwd_refund FINAL) AS a ON a.as_id = r.as_id
LEFT JOIN (SELECT io_id, sum(qty) AS units FROM dwd_aftersale_received_item FINAL GROUP BY io_id) AS u
    ON u.io_id = r.io_id
GROUP BY day, shop_id, wh_id_label
SETTINGS join_use_nulls = 1;

CREATE TABLE IF NOT EXISTS dws_sku_aftersale_daily
(
    day           Date COMMENT 'Day (outbound: io_date; after-sale: as_date), GMT+8',
    sku_id        String COMMENT 'SKU id',
    out_documents UInt64 COMMENT 'Confirmed outbound documents with this SKU',
    as_documents  UInt64 COMMENT 'After-sale documents (not cancelled) with this SKU'
)
ENGINE = MergeTree
ORDER BY (day, sku_id)
COMMENT 'DWS: outbound and after-sale documents per day x SKU, for the after-sale rate by SKU (refreshed every 60 s)';

CREATE MATERIALIZED VIEW IF NOT EXISTS rmv_sku_aftersale_daily
REFRESH EVERY 60 SECOND TO dws_sku_aftersale_daily AS
SELECT day, sku_id, sum(out_documents) AS out_documents, sum(as_documents) AS as_documents
FROM (
    SELECT toDate(ifNull(io_date, modified)) AS day, sku_id,
           uniqExact(io_id) AS out_documents, toUInt64(0) AS as_documents
    FROM dwd_sale_out_item FINAL
    WHERE status = 'Confirmed'
    GROUP BY day, sku_id
    UNION ALL
    SELECT toDate(ifNull(as_date, modified)) AS day, sku_id,
           toUInt64(0) AS out_documents, uniqExact(as_id) AS as_documents
    FROM dwd_refund_item FINAL
    WHERE status != 'Cancelled'
    GROUP BY day, sku_id
)
GROUP BY day, sku_id
SETTINGS do_not_merge_across_partitions_select_final = 1;
