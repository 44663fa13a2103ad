package erpbi.flink.clickhouse;

import java.io.ByteArrayOutputStream;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Rows waiting for the next insert, grouped by target table, one per row key: the highest
 * version, the later on a tie. That is what the ReplacingMergeTree keeps too; doing it here
 * keeps an older version that arrived late in the same batch from hiding a re-widened newer one.
 * Payloads stay the UTF-8 bytes Flink holds them in, from the row to the HTTP body.
 */
final class LatestPerKeyBuffer {

    private record Versioned(long version, byte[] payload) {}

    private final Map<String, LinkedHashMap<String, Versioned>> tables = new HashMap<>();
    private int size;

    void add(String table, String rowKey, long version, byte[] payload) {
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
            int length = 0;
            for (Versioned row : table.getValue().values()) {
                length += row.payload().length + 1;
            }
            ByteArrayOutputStream body = new ByteArrayOutputStream(length);
            for (Versioned row : table.getValue().values()) {
                body.writeBytes(row.payload());
                body.write('\n');
            }
            batches.put(table.getKey(), new Batch(body.toByteArray(), table.getValue().size()));
        }
        tables.clear();
        size = 0;
        return batches;
    }

    record Batch(byte[] body, int rows) {}
}
