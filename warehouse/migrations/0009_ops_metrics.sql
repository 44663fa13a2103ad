-- Screen 8 (异常监控) reads the pipeline's own figures from the warehouse, as every screen
-- does: the monitor process (`erpbi monitor run`) asks Prometheus every
-- monitoring.record_every_seconds for the series named in monitoring/screen_series.yaml and
-- writes one row per series and label here, so the screen is at most that far behind.
-- metric: the series' name in screen_series.yaml (api_latency_p95_seconds, kafka_lag_messages, ...)
-- label: the one label that tells its rows apart (a stream, a topic, an alert), '' for none.

CREATE TABLE IF NOT EXISTS ops_metrics
(
    ts     DateTime('Asia/Shanghai') COMMENT 'When Prometheus evaluated the series',
    metric LowCardinality(String) COMMENT 'Series name from monitoring/screen_series.yaml',
    label  LowCardinality(String) COMMENT 'The row''s label value (stream, topic, alert); empty when none',
    value  Float64 COMMENT 'The value, in the unit its name ends with (seconds, ratio, messages)'
)
ENGINE = MergeTree
ORDER BY (metric, label, ts)
TTL ts + INTERVAL 14 DAY
COMMENT 'Monitoring figures for screen 8, copied from Prometheus (kept 14 days)';

CREATE VIEW IF NOT EXISTS ops_metrics_latest
AS SELECT metric, label, argMax(value, ts) AS value, max(ts) AS at
FROM ops_metrics
WHERE ts >= now() - INTERVAL 2 MINUTE
GROUP BY metric, label
COMMENT 'The newest value of each series and label recorded in the last 2 minutes (a series gone quiet drops out)';

CREATE VIEW IF NOT EXISTS ops_screen_freshness
AS SELECT s.screen AS screen, s.title AS title, max(f.value) AS freshness_seconds
FROM values('screen String, title String, stream String',
    ('inventory-overview', '实时库存总览', 'inventory'), ('inventory-alert', '商品库存预警', 'inventory'),
    ('outbound-trend', '销售出库趋势', 'outbound'), ('shop-ranking', '店铺排行榜', 'outbound'),
    ('promotion-live', '大促实时战报', 'outbound'), ('finance', '财务应收', 'outbound'),
    ('finance', '财务应收', 'aftersale'), ('aftersale-monitor', '售后监控', 'aftersale')) AS s
INNER JOIN (SELECT label, value FROM ops_metrics_latest WHERE metric = 'stream_freshness_seconds') AS f
    ON f.label = s.stream
GROUP BY s.screen, s.title
COMMENT 'Freshness of each screen: the stalest stream it reads (seconds behind the ERP)';
