package erpbi.flink.clickhouse;

import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Rows waiting for the next insert, grouped by target table, one per row key: the highest
 * version, the later on a tie. That is what the ReplacingMergeTree keeps too; doing it here
 * keeps an older version that arrived late in the same batch from hiding a re-widened newer one.
 */
final class LatestPerKeyBuffer {

    private record Versioned(long version, String payload) {}

    private final Map<String, LinkedHashMap<String, Versioned>> tables = new HashMap<>();
    private int size;

    void add(String table, String rowKey, long version, String payload) {
        LinkedHashMap<String, Versioned> rows = tables.computeIfAbsent(table, t -> new LinkedHashMap<>());
        Versioned kept = rows.get(rowKey);
        if (kept == null) {
            rows.put(rowKey, new Versioned(version, payload));
            size++;
        } else if (version >= kept.version()) {
            rows.put(rowKey, new Versioned(version, payload));
        }
    }

    int size() {
        return size;
    }

    boolean isEmpty() {
        return size == 0;
    }

    /** One JSONEachRow body per table, in the order keys were first seen. */
    Map<String, Batch> drain() {
        Map<String, Batch> batches = new LinkedHashMap<>();
        for (Map.Entry<String, LinkedHashMap<String, Versioned>> table : tables.entrySet()) {
            StringBuilder body = new StringBuilder();
            for (Versioned row : table.getValue().values()) {
                body.append(row.payload()).append('\n');
            }
            batches.put(table.getKey(), new Batch(body.toString(), table.getValue().size()));
        }
        tables.clear();
        size = 0;
        return batches;
    }

    record Batch(String body, int rows) {}
}
