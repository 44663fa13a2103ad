-- What the big screens need beyond the metric catalogue's views:
--
-- * dim_province_iso: warehouse province (as the ERP writes it, with or without 省/市/
--   自治区) -> ISO 3166-2 code, the key of the China map that Superset ships (country_map).
-- * dws_sku_warehouse_sales: each SKU's confirmed outbound units of the last 7 days per
--   shipping warehouse, so the replenishment plan of screen 6 is per SKU x warehouse.
-- * serving_freshness: the newest ERP modification time behind each family of screens
--   (数据截至 on every screen).

CREATE VIEW IF NOT EXISTS dim_province_iso
AS SELECT province, iso_code
FROM values('province String, iso_code String',
    ('北京', 'CN-BJ'), ('天津', 'CN-TJ'), ('河北', 'CN-HE'), ('山西', 'CN-SX'),
    ('内蒙古', 'CN-NM'), ('辽宁', 'CN-LN'), ('吉林', 'CN-JL'), ('黑龙江', 'CN-HL'),
    ('上海', 'CN-SH'), ('江苏', 'CN-JS'), ('浙江', 'CN-ZJ'), ('安徽', 'CN-AH'),
    ('福建', 'CN-FJ'), ('江西', 'CN-JX'), ('山东', 'CN-SD'), ('河南', 'CN-HA'),
    ('湖北', 'CN-HB'), ('湖南', 'CN-HN'), ('广东', 'CN-GD'), ('广西', 'CN-GX'),
    ('海南', 'CN-HI'), ('重庆', 'CN-CQ'), ('四川', 'CN-SC'), ('贵州', 'CN-GZ'),
    ('云南', 'CN-YN'), ('西藏', 'CN-XZ'), ('陕西', 'CN-SN'), ('甘肃', 'CN-GS'),
    ('青海', 'CN-QH'), ('宁夏', 'CN-NX'), ('新疆', 'CN-XJ'), ('台湾', 'CN-71'),
    ('香港', 'CN-91'), ('澳门', 'CN-92'))
COMMENT 'Province short name -> ISO 3166-2 code of the China map; join on the name without 省/市/自治区 suffix';

CREATE TABLE IF NOT EXISTS dws_sku_warehouse_sales
(
    sku_id    String COMMENT 'ERP SKU id',
    wms_co_id Int64 COMMENT 'Shipping warehouse id',
    units_7d  Int64 COMMENT 'Confirmed outbound units from this warehouse, last 7 days including today'
)
ENGINE = MergeTree
ORDER BY (sku_id, wms_co_id)
COMMENT 'DWS: recent outbound per SKU x shipping warehouse, for the replenishment plan (refreshed every 60 s)';

CREATE MATERIALIZED VIEW IF NOT EXISTS rmv_sku_warehouse_sales
REFRESH EVERY 60 SECOND TO dws_sku_warehouse_sales AS
SELECT sku_id, wms_co_id, toInt64(sum(qty)) AS units_7d
FROM dwd_sale_out_item FINAL
WHERE status = 'Confirmed' AND io_date IS NOT NULL
  AND toDate(io_date) > toDate(now(), 'Asia/Shanghai') - 7
GROUP BY sku_id, wms_co_id
SETTINGS prefer_column_name_to_alias = 1, do_not_merge_across_partitions_select_final = 1;

CREATE VIEW IF NOT EXISTS serving_freshness
AS SELECT 'inventory' AS stream, '库存' AS label, max(modified) AS newest FROM dws_inventory_current
UNION ALL SELECT 'outbound' AS stream, '销售出库' AS label, max(modified) AS newest FROM dwd_sale_out
UNION ALL SELECT 'aftersale' AS stream, '售后' AS label, max(modified) AS newest FROM dwd_refund
COMMENT 'Newest ERP modification time (GMT+8) landed per stream: the 数据截至 line of the screens';
