-- After-sale receipts were partitioned by toYYYYMM(modified), and modified changes with
-- every version of a receipt. ReplacingMergeTree collapses versions only inside one
-- partition, so a receipt modified again in a later month kept both versions on disk for
-- good, every FINAL read had to merge across partitions to hide the old one, and a read
-- per partition (do_not_merge_across_partitions_select_final, used for the other DWD
-- tables) would have counted it twice. Both tables are now
-- partitioned by the receipt id, which never changes: every version of a receipt and its
-- items lands in the same partition. Receipts are few (thousands a month), so four hash
-- partitions keep parts few; the 3-year TTL still drops rows by modified.
--
-- ClickHouse cannot change a partition key in place: each table is copied into a new one
-- and the two are swapped atomically (EXCHANGE TABLES). Every receipt keeps its latest
-- version; the versions the old partitions kept apart collapse in the copy.
-- `erpbi up` migrates before the Flink job starts, so nothing is written meanwhile. Each
-- step can run again: a run stopped halfway starts over from whichever table holds the
-- rows under the old name.

DROP TABLE IF EXISTS dwd_aftersale_received__repartitioned;

CREATE TABLE dwd_aftersale_received__repartitioned AS dwd_aftersale_received
ENGINE = ReplacingMergeTree(_version)
PARTITION BY cityHash64(io_id) % 4
ORDER BY io_id
TTL toDate(modified) + INTERVAL 3 YEAR
COMMENT 'After-sale received (return receipt) documents (DWD), widened with shop and warehouse; partitioned by receipt id';

INSERT INTO dwd_aftersale_received__repartitioned SELECT * FROM dwd_aftersale_received;

EXCHANGE TABLES dwd_aftersale_received AND dwd_aftersale_received__repartitioned;

DROP TABLE dwd_aftersale_received__repartitioned;

DROP TABLE IF EXISTS dwd_aftersale_received_item__repartitioned;

CREATE TABLE dwd_aftersale_received_item__repartitioned AS dwd_aftersale_received_item
ENGINE = ReplacingMergeTree(_version)
PARTITION BY cityHash64(io_id) % 4
ORDER BY (io_id, ioi_id)
TTL toDate(modified) + INTERVAL 3 YEAR
COMMENT 'After-sale received items (DWD), widened with SKU, shop and warehouse; partitioned by receipt id';

INSERT INTO dwd_aftersale_received_item__repartitioned SELECT * FROM dwd_aftersale_received_item;

EXCHANGE TABLES dwd_aftersale_received_item AND dwd_aftersale_received_item__repartitioned;

DROP TABLE dwd_aftersale_received_item__repartitioned;
