package erpbi.flink.clickhouse;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;

/**
 * Lands one table's rows so that no row can hold the others back.
 *
 * <p>When ClickHouse refuses a batch for its content, the batch is split in halves and each
 * half is tried again, down to single rows: a refused single row is dead-lettered with
 * ClickHouse's error text and the rest land. k bad rows in n cost about 2k log2(n) extra
 * inserts. A retriable failure stops the work: what has not landed yet is handed back so
 * the writer keeps it and tries again later. Re-inserting a row that already landed is
 * harmless: the tables are ReplacingMergeTrees on the row's key and version.
 */
final class BatchLander {

    /** What happened to the rows of one {@link #land} call. */
    record Outcome(int landed, int deadLettered, List<LandingRow> notLanded, InsertFailure retriable) {

        boolean complete() {
            return notLanded.isEmpty();
        }
    }

    private final Inserter inserter;
    private final DeadLetters deadLetters;

    BatchLander(Inserter inserter, DeadLetters deadLetters) {
        this.inserter = inserter;
        this.deadLetters = deadLetters;
    }

    Outcome land(String table, List<LandingRow> rows) throws InterruptedException, java.io.IOException {
        Deque<List<LandingRow>> work = new ArrayDeque<>();
        work.push(rows);
        int landed = 0;
        int deadLettered = 0;
        while (!work.isEmpty()) {
            List<LandingRow> part = work.pop();
            try {
                inserter.insert(table, LatestPerKeyBuffer.body(part));
                landed += part.size();
            } catch (InsertFailure failure) {
                if (!failure.isContent()) {
                    List<LandingRow> notLanded = new ArrayList<>(part);
                    work.forEach(notLanded::addAll);
                    return new Outcome(landed, deadLettered, notLanded, failure);
                }
                if (part.size() == 1) {
                    deadLetters.send(part.get(0), failure.getMessage());
                    deadLettered++;
                } else {
                    int half = part.size() / 2;
                    work.push(part.subList(half, part.size()));
                    work.push(part.subList(0, half));
                }
            }
        }
        return new Outcome(landed, deadLettered, List.of(), null);
    }
}
