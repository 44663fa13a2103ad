-- Inventory wide table: one row per SKU and warehouse, the latest ERP version wins.
-- ReplacingMergeTree(_version): _version is the ERP rowversion `ts`; a re-widened row
-- (dimension arrived late) carries the same ts and replaces the earlier row because it is
-- inserted later. Dashboards read it with FINAL (small table: SKUs x warehouses).
CREATE TABLE IF NOT EXISTS dws_inventory
(
    sku_id         String COMMENT 'ERP SKU id (商品编码)',
    wms_co_id      Int64 COMMENT 'ERP warehouse id (分仓编号); 0 means all warehouses summed',
    warehouse_name String COMMENT 'Warehouse name from the warehouse dimension',
    province       String COMMENT 'Warehouse province, for the map screen',
    i_id           String COMMENT 'ERP style id (款式编码)',
    sku_name       String COMMENT 'SKU name, widened from the SKU dimension',
    category       String COMMENT 'SKU category, widened from the SKU dimension',
    brand          String COMMENT 'SKU brand, widened from the SKU dimension',
    cost_price     Decimal(18, 4) COMMENT 'SKU cost price, widened from the SKU dimension',
    qty            Int64 COMMENT 'On-hand quantity (主仓实际库存)',
    order_lock     Int64 COMMENT 'Quantity locked by orders (订单占有数)',
    pick_lock      Int64 COMMENT 'Quantity locked for picking (仓库待发数)',
    virtual_qty    Int64 COMMENT 'Virtual stock (虚拟库存)',
    purchase_qty   Int64 COMMENT 'Purchase in transit (采购在途数)',
    return_qty     Int64 COMMENT 'Sales-return warehouse quantity (销退仓库存)',
    in_qty         Int64 COMMENT 'Inbound warehouse quantity (进货仓库存)',
    defective_qty  Int64 COMMENT 'Defective quantity (次品库存)',
    lock_qty       Int64 COMMENT 'Manually locked quantity (库存锁定数)',
    min_qty        Int64 COMMENT 'Safety stock lower bound (安全库存下限)',
    max_qty        Int64 COMMENT 'Safety stock upper bound (安全库存上限)',
    available_qty  Int64 COMMENT 'qty + virtual_qty - order_lock - lock_qty (可用数)',
    stock_value    Decimal(18, 4) COMMENT 'qty x cost_price (库存金额)',
    is_anomaly     UInt8 COMMENT '1 when a cleaning rule flagged the row (kept, not dropped)',
    anomaly_reason String COMMENT 'Why the row was flagged, e.g. negative qty',
    dim_status     LowCardinality(String) COMMENT 'ok, or unknown_sku while the SKU dimension is missing',
    modified       DateTime('Asia/Shanghai') COMMENT 'ERP modification time (GMT+8)',
    ts             UInt64 COMMENT 'ERP rowversion of the inventory row',
    _version       UInt64 COMMENT 'Replacing version: ERP ts',
    _loaded_at     DateTime64(3, 'Asia/Shanghai') DEFAULT now64(3) COMMENT 'When the Flink sink wrote the row',
    _kafka_at      DateTime64(3, 'Asia/Shanghai') COMMENT 'When the source record was appended to Kafka (freshness)'
)
ENGINE = ReplacingMergeTree(_version)
ORDER BY (sku_id, wms_co_id)
COMMENT 'Inventory wide table (DWS): latest stock per SKU and warehouse, widened with SKU and warehouse labels';
