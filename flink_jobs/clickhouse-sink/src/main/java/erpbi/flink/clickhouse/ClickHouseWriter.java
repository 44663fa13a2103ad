package erpbi.flink.clickhouse;

import java.io.IOException;
import java.util.Map;
import java.util.concurrent.ThreadLocalRandom;

import org.apache.flink.api.common.operators.ProcessingTimeService;
import org.apache.flink.api.connector.sink2.SinkWriter;
import org.apache.flink.table.data.RowData;
import org.apache.flink.types.RowKind;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Buffers landing rows and inserts them per table as JSONEachRow: when {@code flush-max-rows}
 * are waiting, on a processing-time timer at least every {@code flush-interval}, and in
 * {@link #flush}, which Flink calls before each checkpoint barrier passes.
 *
 * <p>Commit order: row buffered -> inserted (retried with capped, jittered backoff while
 * ClickHouse is away, which back-pressures the job and holds the checkpoint) -> checkpoint
 * stores the Kafka offsets. So every row before a checkpoint is in ClickHouse; after a
 * crash the rows since then are replayed and inserted again, which the ReplacingMergeTree
 * (business key + version) collapses.
 */
final class ClickHouseWriter implements SinkWriter<RowData> {

    private static final Logger LOG = LoggerFactory.getLogger(ClickHouseWriter.class);
    private static final long FIRST_BACKOFF_MILLIS = 500;

    private final SinkOptions options;
    private final ProcessingTimeService timers;
    private final ClickHouseHttp http;
    private final LatestPerKeyBuffer buffer = new LatestPerKeyBuffer();
    private boolean timerArmed;

    ClickHouseWriter(SinkOptions options, ProcessingTimeService timers, ClickHouseHttp http) {
        this.options = options;
        this.timers = timers;
        this.http = http;
    }

    @Override
    public void write(RowData row, Context context) throws IOException, InterruptedException {
        RowKind kind = row.getRowKind();
        if (kind == RowKind.UPDATE_BEFORE || kind == RowKind.DELETE) {
            return;
        }
        buffer.add(row.getString(0).toString(), row.getString(1).toString(), row.getLong(2),
                row.getString(3).toBytes());
        if (buffer.size() >= options.flushMaxRows()) {
            insertBuffered();
        } else if (!timerArmed) {
            timerArmed = true;
            long due = timers.getCurrentProcessingTime() + options.flushIntervalMillis();
            timers.registerTimer(due, time -> onTimer());
        }
    }

    private void onTimer() throws IOException, InterruptedException {
        timerArmed = false;
        insertBuffered();
    }

    @Override
    public void flush(boolean endOfInput) throws IOException, InterruptedException {
        insertBuffered();
    }

    private void insertBuffered() throws IOException, InterruptedException {
        if (buffer.isEmpty()) {
            return;
        }
        for (Map.Entry<String, LatestPerKeyBuffer.Batch> batch : buffer.drain().entrySet()) {
            insertWithRetry(batch.getKey(), batch.getValue());
        }
    }

    private void insertWithRetry(String table, LatestPerKeyBuffer.Batch batch)
            throws InterruptedException {
        long backoff = FIRST_BACKOFF_MILLIS;
        while (true) {
            try {
                http.insert(table, batch.body());
                return;
            } catch (IOException error) {
                LOG.warn("insert of {} rows into {} failed ({}); retrying in {} ms",
                        batch.rows(), table, error.getMessage(), backoff);
                http.reset();
                Thread.sleep((long) (backoff * ThreadLocalRandom.current().nextDouble(0.8, 1.2)));
                backoff = Math.min(backoff * 2, options.retryMaxBackoffMillis());
            }
        }
    }

    @Override
    public void close() {
        // Nothing to release: rows not yet inserted were never covered by a checkpoint and
        // are replayed from Kafka after a restart.
    }
}
