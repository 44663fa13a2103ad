package erpbi.flink.clickhouse;

/** One row for a landing table: its key, its version and its JSONEachRow line (UTF-8). */
record LandingRow(String table, String key, long version, byte[] payload) {}
