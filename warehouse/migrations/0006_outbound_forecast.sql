-- Forecasts made by statsmodels (warehouse/forecast), written by `erpbi warehouse forecast`
-- on a schedule, read by the 24 h forecast metric and the outbound trend screen. Each
-- table holds the newest run only: a run fills a copy and swaps it in (EXCHANGE TABLES),
-- so readers see one whole forecast at every moment and need neither FINAL nor argMax.
--
-- The hourly table also learns which part of each hour's amount came from promotion
-- documents (labelled 大促 in the ERP): the forecast replaces promotion hours before it
-- fits, so a promotion neither inflates next week's curve nor distorts the seasons.

ALTER TABLE dws_sale_out_hourly
    ADD COLUMN IF NOT EXISTS promotion_amount Decimal(38, 4)
    COMMENT 'Amount payable of confirmed documents labelled 大促 (promotion)';

DROP VIEW IF EXISTS rmv_sale_out_hourly;

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
       quantileExactStateIf(0.9)(toInt64(dateDiff('second', pay_date, io_date)), status = 'Confirmed' AND pay_date IS NOT NULL AND io_date IS NOT NULL) AS lead_seconds,
       sumIf(toDecimal128(pay_amount, 4), status = 'Confirmed' AND position(labels, '大促') > 0) AS promotion_amount
FROM dwd_sale_out FINAL
GROUP BY hour, shop_id, logistics_company
SETTINGS prefer_column_name_to_alias = 1, do_not_merge_across_partitions_select_final = 1;

CREATE TABLE IF NOT EXISTS dws_outbound_forecast_hourly
(
    hour         DateTime('Asia/Shanghai') COMMENT 'Forecast hour, GMT+8',
    amount       Float64 COMMENT 'Forecast confirmed outbound amount (元) of the hour, all shops',
    model        LowCardinality(String) COMMENT 'Model that made it (mstl-holt, or mean-7d with under two weeks of history)',
    generated_at DateTime64(3, 'Asia/Shanghai') COMMENT 'When the forecast was made'
)
ENGINE = MergeTree
ORDER BY hour
COMMENT 'DWS: today''s hourly outbound amount forecast (statsmodels MSTL + Holt), the newest run only';

CREATE TABLE IF NOT EXISTS dws_outbound_forecast_daily
(
    shop_id      Int64 COMMENT 'Shop id',
    day          Date COMMENT 'Forecast day, GMT+8',
    amount       Float64 COMMENT 'Forecast confirmed outbound amount (元) of the day',
    horizon_days UInt16 COMMENT 'Days ahead: 1 = the day the forecast was made (history ends the day before)',
    model        LowCardinality(String) COMMENT 'Model that made it (holt-winters-7, or mean-7d with under two weeks of history)',
    generated_at DateTime64(3, 'Asia/Shanghai') COMMENT 'When the forecast was made'
)
ENGINE = MergeTree
ORDER BY (shop_id, day)
COMMENT 'DWS: daily outbound amount forecast per shop, 30 days ahead (statsmodels Holt-Winters, weekday season), the newest run only';
