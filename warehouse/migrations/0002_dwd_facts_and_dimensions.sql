-- DWD wide tables of the document streams and the dimensions, landed by the Flink pipeline.
-- Every table is a ReplacingMergeTree on the business key with the ERP rowversion `ts`
-- (or the dimension's ingest time) as version: repeated and out-of-order versions
-- collapse to the latest; a re-widened row has the same version and wins by arriving later.
-- Partitions use a field that never changes for a key (created), so versions of one
-- document always meet in one partition.

CREATE TABLE IF NOT EXISTS dwd_sale_out
(
    io_id             String COMMENT 'Outbound document id (出库单号)',
    o_id              String COMMENT 'ERP internal order id (内部单号)',
    so_id             String COMMENT 'Platform order id (线上单号)',
    co_id             Int64 COMMENT 'Merchant (company) id',
    shop_id           Int64 COMMENT 'Shop id',
    shop_name         String COMMENT 'Shop name (from the document, else the shop dimension)',
    platform          LowCardinality(String) COMMENT 'Shop platform (shop_site), from the shop dimension',
    shop_owner        String COMMENT 'Shop owner, from the shop sheet users maintain',
    shop_region       LowCardinality(String) COMMENT 'Shop region, from the shop sheet',
    platform_fee_rate Decimal(9, 6) COMMENT 'Platform fee rate, from the shop sheet',
    wms_co_id         Int64 COMMENT 'Shipping warehouse id',
    warehouse_name    String COMMENT 'Shipping warehouse name',
    province          LowCardinality(String) COMMENT 'Shipping warehouse province',
    status            LowCardinality(String) COMMENT 'ERP status code',
    status_label      LowCardinality(String) COMMENT 'Status in Chinese: 待出库 已出库 作废 取消 外部发货中',
    order_type        LowCardinality(String) COMMENT 'Order type',
    pay_amount        Decimal(18, 4) COMMENT 'Amount payable (应付金额)',
    paid_amount       Decimal(18, 4) COMMENT 'Amount paid (已付金额)',
    free_amount       Decimal(18, 4) COMMENT 'Discount amount (优惠金额)',
    freight           Decimal(18, 4) COMMENT 'Freight (运费)',
    currency          LowCardinality(String) COMMENT 'Currency',
    l_id              String COMMENT 'Waybill number',
    lc_id             String COMMENT 'Logistics company code',
    logistics_company LowCardinality(String) COMMENT 'Logistics company (carrier)',
    labels            String COMMENT 'ERP labels',
    weight            Decimal(18, 4) COMMENT 'Parcel weight',
    created           Nullable(DateTime('Asia/Shanghai')) COMMENT 'Document created (GMT+8)',
    modified          DateTime('Asia/Shanghai') COMMENT 'Last modified in the ERP (GMT+8)',
    io_date           Nullable(DateTime('Asia/Shanghai')) COMMENT 'Outbound time (GMT+8)',
    pay_date          Nullable(DateTime('Asia/Shanghai')) COMMENT 'Payment time (GMT+8)',
    dim_status        LowCardinality(String) COMMENT 'ok, or unknown_shop while the shop dimension is missing',
    ts                UInt64 COMMENT 'ERP rowversion',
    _version          UInt64 COMMENT 'Replacing version: ERP ts',
    _kafka_at         DateTime64(3, 'Asia/Shanghai') COMMENT 'When the record was appended to Kafka',
    _loaded_at        DateTime64(3, 'Asia/Shanghai') DEFAULT now64(3) COMMENT 'When the row reached ClickHouse'
)
ENGINE = ReplacingMergeTree(_version)
PARTITION BY toYYYYMM(ifNull(created, modified))
ORDER BY io_id
COMMENT 'Sales outbound documents (DWD), widened with shop and warehouse';

CREATE TABLE IF NOT EXISTS dwd_sale_out_item
(
    io_id             String COMMENT 'Outbound document id',
    ioi_id            String COMMENT 'Outbound item id',
    o_id              String COMMENT 'ERP internal order id',
    shop_id           Int64 COMMENT 'Shop id',
    shop_name         String COMMENT 'Shop name, from the shop dimension',
    platform          LowCardinality(String) COMMENT 'Shop platform',
    shop_owner        String COMMENT 'Shop owner (shop sheet)',
    shop_region       LowCardinality(String) COMMENT 'Shop region (shop sheet)',
    platform_fee_rate Decimal(9, 6) COMMENT 'Platform fee rate (shop sheet)',
    wms_co_id         Int64 COMMENT 'Shipping warehouse id',
    province          LowCardinality(String) COMMENT 'Shipping warehouse province',
    status            LowCardinality(String) COMMENT 'Document status code',
    status_label      LowCardinality(String) COMMENT 'Document status in Chinese',
    created           Nullable(DateTime('Asia/Shanghai')) COMMENT 'Document created (GMT+8)',
    modified          DateTime('Asia/Shanghai') COMMENT 'Document last modified (GMT+8)',
    io_date           Nullable(DateTime('Asia/Shanghai')) COMMENT 'Outbound time (GMT+8)',
    sku_id            String COMMENT 'SKU id',
    i_id              String COMMENT 'Style id',
    sku_name          String COMMENT 'SKU name, from the SKU dimension',
    category          LowCardinality(String) COMMENT 'SKU category, from the SKU dimension',
    brand             LowCardinality(String) COMMENT 'SKU brand, from the SKU dimension',
    cost_price        Decimal(18, 4) COMMENT 'SKU cost price, from the SKU dimension',
    properties_value  String COMMENT 'Colour/size text',
    qty               Int64 COMMENT 'Units',
    sale_price        Decimal(18, 4) COMMENT 'Unit sale price',
    sale_amount       Decimal(18, 4) COMMENT 'Line amount',
    sale_base_price   Decimal(18, 4) COMMENT 'Unit list price',
    oi_id             String COMMENT 'Order item id',
    combine_sku_id    String COMMENT 'Bundle SKU id',
    is_gift           String COMMENT 'Gift flag as the ERP sends it',
    dim_gaps          String COMMENT 'Missing dimensions (unknown_sku, unknown_shop), empty when fully widened',
    anomaly_reason    String COMMENT 'Why a cleaning rule flagged the row, e.g. negative qty',
    ts                UInt64 COMMENT 'ERP rowversion of the document',
    _version          UInt64 COMMENT 'Replacing version: document ts',
    _kafka_at         DateTime64(3, 'Asia/Shanghai') COMMENT 'When the record was appended to Kafka',
    _loaded_at        DateTime64(3, 'Asia/Shanghai') DEFAULT now64(3) COMMENT 'When the row reached ClickHouse'
)
ENGINE = ReplacingMergeTree(_version)
PARTITION BY toYYYYMM(ifNull(created, modified))
ORDER BY (io_id, ioi_id)
COMMENT 'Sales outbound items (DWD), widened with SKU, shop and warehouse';

CREATE TABLE IF NOT EXISTS dwd_refund
(
    as_id             String COMMENT 'After-sale document id (售后单号)',
    as_date           Nullable(DateTime('Asia/Shanghai')) COMMENT 'After-sale date (GMT+8)',
    outer_as_id       String COMMENT 'Platform after-sale id',
    o_id              String COMMENT 'ERP internal order id',
    so_id             String COMMENT 'Platform order id',
    type              LowCardinality(String) COMMENT 'After-sale type (普通退货, 仅退款, 换货 ...)',
    created           Nullable(DateTime('Asia/Shanghai')) COMMENT 'Created (GMT+8)',
    modified          DateTime('Asia/Shanghai') COMMENT 'Last modified (GMT+8)',
    status            LowCardinality(String) COMMENT 'ERP status code',
    status_label      LowCardinality(String) COMMENT 'Status in Chinese: 待审核 已确认 已取消 已合并',
    confirm_date      Nullable(DateTime('Asia/Shanghai')) COMMENT 'Confirmed at (GMT+8)',
    shop_status       LowCardinality(String) COMMENT 'Platform-side status',
    good_status       LowCardinality(String) COMMENT 'Goods status code',
    good_status_label LowCardinality(String) COMMENT 'Goods status in Chinese: 买家已退货 卖家已收货 ...',
    order_status      LowCardinality(String) COMMENT 'Order status',
    refund            Decimal(18, 4) COMMENT 'Refund amount (退款金额)',
    payment           Decimal(18, 4) COMMENT 'Buyer compensation paid (补偿金额)',
    free_amount       Decimal(18, 4) COMMENT 'Discount amount',
    freight           Decimal(18, 4) COMMENT 'Freight',
    shop_id           Int64 COMMENT 'Shop id',
    shop_name         String COMMENT 'Shop name',
    platform          LowCardinality(String) COMMENT 'Shop platform',
    shop_owner        String COMMENT 'Shop owner (shop sheet)',
    shop_region       LowCardinality(String) COMMENT 'Shop region (shop sheet)',
    platform_fee_rate Decimal(9, 6) COMMENT 'Platform fee rate (shop sheet)',
    wms_co_id         Int64 COMMENT 'Return warehouse id',
    warehouse_name    String COMMENT 'Return warehouse name (warehouse dimension)',
    province          LowCardinality(String) COMMENT 'Return warehouse province',
    wh_id             Int64 COMMENT 'Warehouse kind id',
    warehouse         String COMMENT 'Warehouse text as the ERP sends it',
    l_id              String COMMENT 'Return waybill number',
    question_type     LowCardinality(String) COMMENT 'Reason (问题类型)',
    labels            String COMMENT 'ERP labels',
    dim_status        LowCardinality(String) COMMENT 'ok, or unknown_shop',
    ts                UInt64 COMMENT 'ERP rowversion',
    _version          UInt64 COMMENT 'Replacing version: ERP ts',
    _kafka_at         DateTime64(3, 'Asia/Shanghai') COMMENT 'When the record was appended to Kafka',
    _loaded_at        DateTime64(3, 'Asia/Shanghai') DEFAULT now64(3) COMMENT 'When the row reached ClickHouse'
)
ENGINE = ReplacingMergeTree(_version)
PARTITION BY toYYYYMM(ifNull(created, modified))
ORDER BY as_id
COMMENT 'After-sale (refund) documents (DWD), widened with shop and warehouse';

CREATE TABLE IF NOT EXISTS dwd_refund_item
(
    as_id             String COMMENT 'After-sale document id',
    asi_id            String COMMENT 'After-sale item id',
    o_id              String COMMENT 'ERP internal order id',
    shop_id           Int64 COMMENT 'Shop id',
    shop_name         String COMMENT 'Shop name, from the shop dimension',
    platform          LowCardinality(String) COMMENT 'Shop platform',
    shop_owner        String COMMENT 'Shop owner (shop sheet)',
    shop_region       LowCardinality(String) COMMENT 'Shop region (shop sheet)',
    platform_fee_rate Decimal(9, 6) COMMENT 'Platform fee rate (shop sheet)',
    wms_co_id         Int64 COMMENT 'Return warehouse id',
    province          LowCardinality(String) COMMENT 'Return warehouse province',
    status            LowCardinality(String) COMMENT 'Document status code',
    status_label      LowCardinality(String) COMMENT 'Document status in Chinese',
    created           Nullable(DateTime('Asia/Shanghai')) COMMENT 'Document created (GMT+8)',
    modified          DateTime('Asia/Shanghai') COMMENT 'Document last modified (GMT+8)',
    as_date           Nullable(DateTime('Asia/Shanghai')) COMMENT 'After-sale date (GMT+8)',
    sku_id            String COMMENT 'SKU id',
    i_id              String COMMENT 'Style id',
    sku_name          String COMMENT 'SKU name, from the SKU dimension',
    category          LowCardinality(String) COMMENT 'SKU category',
    brand             LowCardinality(String) COMMENT 'SKU brand',
    cost_price        Decimal(18, 4) COMMENT 'SKU cost price',
    properties_value  String COMMENT 'Colour/size text',
    qty               Int64 COMMENT 'Units applied for',
    r_qty             Int64 COMMENT 'Units actually returned',
    price             Decimal(18, 4) COMMENT 'Unit price',
    amount            Decimal(18, 4) COMMENT 'Line amount',
    type              LowCardinality(String) COMMENT 'Item after-sale type',
    defective_qty     Int64 COMMENT 'Defective units',
    receive_date      Nullable(DateTime('Asia/Shanghai')) COMMENT 'Received at (GMT+8)',
    dim_gaps          String COMMENT 'Missing dimensions, empty when fully widened',
    anomaly_reason    String COMMENT 'Why a cleaning rule flagged the row',
    ts                UInt64 COMMENT 'ERP rowversion of the document',
    _version          UInt64 COMMENT 'Replacing version: document ts',
    _kafka_at         DateTime64(3, 'Asia/Shanghai') COMMENT 'When the record was appended to Kafka',
    _loaded_at        DateTime64(3, 'Asia/Shanghai') DEFAULT now64(3) COMMENT 'When the row reached ClickHouse'
)
ENGINE = ReplacingMergeTree(_version)
PARTITION BY toYYYYMM(ifNull(created, modified))
ORDER BY (as_id, asi_id)
COMMENT 'After-sale items (DWD), widened with SKU, shop and warehouse';

CREATE TABLE IF NOT EXISTS dwd_aftersale_received
(
    io_id             String COMMENT 'Return receipt document id',
    o_id              String COMMENT 'ERP internal order id',
    so_id             String COMMENT 'Platform order id',
    as_id             String COMMENT 'After-sale document id',
    io_date           Nullable(DateTime('Asia/Shanghai')) COMMENT 'Received at (GMT+8)',
    warehouse         String COMMENT 'Warehouse text as the ERP sends it',
    modified          DateTime('Asia/Shanghai') COMMENT 'Last modified (GMT+8)',
    shop_id           Int64 COMMENT 'Shop id',
    shop_name         String COMMENT 'Shop name, from the shop dimension',
    platform          LowCardinality(String) COMMENT 'Shop platform',
    shop_owner        String COMMENT 'Shop owner (shop sheet)',
    shop_region       LowCardinality(String) COMMENT 'Shop region (shop sheet)',
    platform_fee_rate Decimal(9, 6) COMMENT 'Platform fee rate (shop sheet)',
    status            LowCardinality(String) COMMENT 'ERP status',
    wh_id             Int64 COMMENT 'Warehouse kind: 1 main, 2 sales-return, 3 inbound, 4 defective',
    wh_id_label       LowCardinality(String) COMMENT 'Warehouse kind in Chinese: 主仓 销退仓 进货仓 次品仓',
    wms_co_id         Int64 COMMENT 'Warehouse id',
    warehouse_name    String COMMENT 'Warehouse name (warehouse dimension)',
    province          LowCardinality(String) COMMENT 'Warehouse province',
    type              LowCardinality(String) COMMENT 'Receipt type',
    dim_status        LowCardinality(String) COMMENT 'ok, or unknown_shop',
    ts                UInt64 COMMENT 'ERP rowversion',
    _version          UInt64 COMMENT 'Replacing version: ERP ts',
    _kafka_at         DateTime64(3, 'Asia/Shanghai') COMMENT 'When the record was appended to Kafka',
    _loaded_at        DateTime64(3, 'Asia/Shanghai') DEFAULT now64(3) COMMENT 'When the row reached ClickHouse'
)
ENGINE = ReplacingMergeTree(_version)
PARTITION BY toYYYYMM(modified)
ORDER BY io_id
COMMENT 'After-sale received (return receipt) documents (DWD), widened with shop and warehouse';

CREATE TABLE IF NOT EXISTS dwd_aftersale_received_item
(
    io_id             String COMMENT 'Return receipt document id',
    ioi_id            String COMMENT 'Return receipt item id',
    o_id              String COMMENT 'ERP internal order id',
    shop_id           Int64 COMMENT 'Shop id',
    shop_name         String COMMENT 'Shop name',
    platform          LowCardinality(String) COMMENT 'Shop platform',
    shop_owner        String COMMENT 'Shop owner (shop sheet)',
    shop_region       LowCardinality(String) COMMENT 'Shop region (shop sheet)',
    platform_fee_rate Decimal(9, 6) COMMENT 'Platform fee rate (shop sheet)',
    wms_co_id         Int64 COMMENT 'Warehouse id',
    province          LowCardinality(String) COMMENT 'Warehouse province',
    status            LowCardinality(String) COMMENT 'Document status',
    modified          DateTime('Asia/Shanghai') COMMENT 'Document last modified (GMT+8)',
    io_date           Nullable(DateTime('Asia/Shanghai')) COMMENT 'Received at (GMT+8)',
    sku_id            String COMMENT 'SKU id',
    sku_name          String COMMENT 'SKU name, from the SKU dimension',
    category          LowCardinality(String) COMMENT 'SKU category',
    brand             LowCardinality(String) COMMENT 'SKU brand',
    cost_price        Decimal(18, 4) COMMENT 'SKU cost price',
    qty               Int64 COMMENT 'Units received',
    sale_price        Decimal(18, 4) COMMENT 'Unit sale price',
    sale_amount       Decimal(18, 4) COMMENT 'Line amount',
    dim_gaps          String COMMENT 'Missing dimensions, empty when fully widened',
    anomaly_reason    String COMMENT 'Why a cleaning rule flagged the row',
    ts                UInt64 COMMENT 'ERP rowversion of the document',
    _version          UInt64 COMMENT 'Replacing version: document ts',
    _kafka_at         DateTime64(3, 'Asia/Shanghai') COMMENT 'When the record was appended to Kafka',
    _loaded_at        DateTime64(3, 'Asia/Shanghai') DEFAULT now64(3) COMMENT 'When the row reached ClickHouse'
)
ENGINE = ReplacingMergeTree(_version)
PARTITION BY toYYYYMM(modified)
ORDER BY (io_id, ioi_id)
COMMENT 'After-sale received items (DWD), widened with SKU, shop and warehouse';

CREATE TABLE IF NOT EXISTS dim_sku
(
    sku_id           String COMMENT 'SKU id',
    i_id             String COMMENT 'Style id',
    sku_name         String COMMENT 'SKU name',
    short_name       String COMMENT 'Short name',
    category         LowCardinality(String) COMMENT 'Category',
    brand            LowCardinality(String) COMMENT 'Brand',
    cost_price       Decimal(18, 4) COMMENT 'Cost price',
    sale_price       Decimal(18, 4) COMMENT 'Sale price',
    properties_value String COMMENT 'Colour/size text',
    supplier_name    String COMMENT 'Supplier',
    enabled          Int8 COMMENT '1 enabled, 0 disabled, -1 deleted',
    modified         DateTime('Asia/Shanghai') COMMENT 'Last modified in the ERP (GMT+8)',
    _version         UInt64 COMMENT 'Replacing version: connector ingest time (ms)',
    _loaded_at       DateTime64(3, 'Asia/Shanghai') DEFAULT now64(3) COMMENT 'When the row reached ClickHouse'
)
ENGINE = ReplacingMergeTree(_version)
ORDER BY sku_id
COMMENT 'SKU dimension (latest version per SKU)';

CREATE TABLE IF NOT EXISTS dim_shop
(
    shop_id           Int64 COMMENT 'Shop id',
    shop_name         String COMMENT 'Shop name',
    platform          LowCardinality(String) COMMENT 'Platform (shop_site)',
    nick              String COMMENT 'Seller nick',
    shop_owner        String COMMENT 'Owner (shop sheet); drives row-level security',
    shop_region       LowCardinality(String) COMMENT 'Region (shop sheet)',
    platform_fee_rate Decimal(9, 6) COMMENT 'Platform fee rate (shop sheet)',
    _version          UInt64 COMMENT 'Replacing version: latest ingest time (ms) of the API row or sheet row',
    _loaded_at        DateTime64(3, 'Asia/Shanghai') DEFAULT now64(3) COMMENT 'When the row reached ClickHouse'
)
ENGINE = ReplacingMergeTree(_version)
ORDER BY shop_id
COMMENT 'Shop dimension: the ERP shop list joined with the shop sheet users maintain';

CREATE TABLE IF NOT EXISTS dim_warehouse
(
    wms_co_id      Int64 COMMENT 'Warehouse id',
    warehouse_name String COMMENT 'Warehouse name',
    province       LowCardinality(String) COMMENT 'Province, for the map screen',
    city           String COMMENT 'City',
    _version       UInt64 COMMENT 'Replacing version: connector ingest time (ms)',
    _loaded_at     DateTime64(3, 'Asia/Shanghai') DEFAULT now64(3) COMMENT 'When the row reached ClickHouse'
)
ENGINE = ReplacingMergeTree(_version)
ORDER BY wms_co_id
COMMENT 'Warehouse dimension';
