-- Every notification the alert service sent or failed to send, one row per item and
-- channel and attempt outcome: what `erpbi alerts status` and the on-call read back.
-- result: delivered | retrying (throttled or 5xx, tried again later) | refused (the vendor
-- said the request itself is wrong: signature, token, format) | not_configured (the rule
-- names a channel with no robot URL in the settings).

CREATE TABLE IF NOT EXISTS alert_notifications
(
    event_time DateTime64(3, 'Asia/Shanghai') COMMENT 'When the outcome was known',
    rule       LowCardinality(String) COMMENT 'Alert rule name (dashboards/assets/alerts)',
    item       String COMMENT 'The item the rule fired for, its key columns joined by |',
    state      LowCardinality(String) COMMENT 'firing | repeated | resolved',
    route      String COMMENT 'Who was told: the routing column value (owner, category)',
    channel    LowCardinality(String) COMMENT 'feishu | dingtalk | wecom | webhook',
    result     LowCardinality(String) COMMENT 'delivered | retrying | refused | not_configured',
    attempts   UInt16 COMMENT 'HTTP attempts this outcome took',
    error      String COMMENT 'Why it failed, as the vendor said (no URL, no secret)',
    message_id UInt64 COMMENT 'The outbox message (one per rule, route and channel)'
)
ENGINE = MergeTree
ORDER BY (rule, event_time)
TTL toDateTime(event_time) + INTERVAL 180 DAY
COMMENT 'Alert notifications sent or failed, per item and channel';
