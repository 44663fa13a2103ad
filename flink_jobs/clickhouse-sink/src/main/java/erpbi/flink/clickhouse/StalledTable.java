package erpbi.flink.clickhouse;

import java.time.Instant;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;

/** A table whose last insert failed retriably: its rows, its error, when to try again. */
final class StalledTable {

    private static final long FIRST_BACKOFF_MILLIS = 500;

    final long sinceMillis;
    List<LandingRow> rows;
    String error = "";
    int attempts;
    long nextAttemptMillis;
    private long backoffMillis = FIRST_BACKOFF_MILLIS;

    StalledTable(long nowMillis, List<LandingRow> rows) {
        this.sinceMillis = nowMillis;
        this.rows = rows;
    }

    /** Record one more failed attempt: capped exponential backoff with +-20 % jitter. */
    void failed(long nowMillis, String failure, long maxBackoffMillis) {
        attempts++;
        error = failure;
        nextAttemptMillis = nowMillis + (long) (backoffMillis * ThreadLocalRandom.current().nextDouble(0.8, 1.2));
        backoffMillis = Math.min(backoffMillis * 2, maxBackoffMillis);
    }

    boolean due(long nowMillis) {
        return nowMillis >= nextAttemptMillis;
    }

    String describe(String table) {
        return table + ": " + rows.size() + " rows waiting since " + Instant.ofEpochMilli(sinceMillis)
                + ", " + attempts + " attempts, last error " + error;
    }
}
