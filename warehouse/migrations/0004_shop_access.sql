-- Row-level security's one source of truth: who owns which shop.
-- The owner comes from the shop sheet users maintain (`erpbi dims load`), which the Flink
-- job widens into dim_shop.shop_owner. Everything that restricts rows reads this view:
-- ClickHouse row policies on a real server (warehouse/access.py), the single-machine
-- server's per-request filter (warehouse/server/row_policy.py), and Superset's RLS rules.
CREATE VIEW IF NOT EXISTS shop_access
AS SELECT shop_id, shop_owner AS owner
FROM dim_shop FINAL
WHERE shop_owner != ''
COMMENT 'Who owns which shop (dim_shop.shop_owner from the shop sheet): the source of truth for row-level security';
