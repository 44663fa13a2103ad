package erpbi.flink.clickhouse;

import java.io.ByteArrayOutputStream;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Rows waiting for the next insert, grouped by target table, one per row key: the highest
 * version, the later on a tie. That is what the ReplacingMergeTree keeps too; doing it here
 * keeps an older version that arrived late in the same batch from hiding a re-widened newer one.
 * Payloads stay the UTF-8 bytes Flink holds them in, from the row to the HTTP body.
 */
final class LatestPerKeyBuffer {

    private final Map<String, LinkedHashMap<String, LandingRow>> tables = new LinkedHashMap<>();
    private int size;

    void add(LandingRow row) {
        LinkedHashMap<String, LandingRow> rows = tables.computeIfAbsent(row.table(), t -> new LinkedHashMap<>());
        LandingRow kept = rows.get(row.key());
        if (kept == null) {
            rows.put(row.key(), row);
            size++;
        } else if (row.version() >= kept.version()) {
            rows.put(row.key(), row);
        }
    }

    void addAll(List<LandingRow> rows) {
        rows.forEach(this::add);
    }

    int size() {
        return size;
    }

    boolean isEmpty() {
        return size == 0;
    }

    /** Every waiting row, the buffer unchanged. */
    List<LandingRow> rows() {
        List<LandingRow> all = new ArrayList<>(size);
        tables.values().forEach(rows -> all.addAll(rows.values()));
        return all;
    }

    /** Every table's rows, in the order keys were first seen; the buffer is empty after. */
    Map<String, List<LandingRow>> drain() {
        Map<String, List<LandingRow>> drained = new LinkedHashMap<>();
        tables.forEach((table, rows) -> drained.put(table, new ArrayList<>(rows.values())));
        tables.clear();
        size = 0;
        return drained;
    }

    /** One JSONEachRow body: the payloads, one per line. */
    static byte[] body(List<LandingRow> rows) {
        int length = 0;
        for (LandingRow row : rows) {
            length += row.payload().length + 1;
        }
        ByteArrayOutputStream body = new ByteArrayOutputStream(length);
        for (LandingRow row : rows) {
            body.writeBytes(row.payload());
            body.write('\n');
        }
        return body.toByteArray();
    }
}
