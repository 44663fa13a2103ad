package erpbi.flink.clickhouse;

import java.io.IOException;
import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.StringJoiner;

import org.apache.flink.api.common.operators.ProcessingTimeService;
import org.apache.flink.api.connector.sink2.StatefulSinkWriter;
import org.apache.flink.metrics.Counter;
import org.apache.flink.metrics.groups.SinkWriterMetricGroup;
import org.apache.flink.table.data.RowData;
import org.apache.flink.types.RowKind;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Buffers landing rows and inserts them per table as JSONEachRow: when {@code flush-max-rows}
 * are waiting, on a processing-time timer at least every {@code flush-interval}, and in
 * {@link #flush}, which Flink calls before each checkpoint barrier passes.
 *
 * <p>No row stops the others. Rows ClickHouse refuses for their content are found by
 * splitting the batch and dead-lettered with ClickHouse's error ({@link BatchLander}). A
 * table that cannot be written for a reason that can pass (server down, 5xx, too many parts)
 * keeps its rows here and is retried with capped, jittered backoff, while every other table
 * goes on landing.
 *
 * <p>Commit order at a checkpoint: insert what can be inserted -> dead letters acknowledged by
 * Kafka -> the rows still waiting for a stalled table go into the checkpoint
 * ({@link PendingRows}) -> the checkpoint stores the Kafka offsets. So a completed checkpoint
 * holds every row that is not in ClickHouse, and a restart lands them first; rows inserted
 * twice collapse in the ReplacingMergeTree (business key + version). Waiting rows are bounded
 * by {@code max-pending-rows}: past that the writer stops taking rows until its tables recover,
 * which back-pressures the job.
 */
final class ClickHouseWriter implements StatefulSinkWriter<RowData, PendingRows> {

    private static final Logger LOG = LoggerFactory.getLogger(ClickHouseWriter.class);
    private static final long BLOCKED_POLL_MILLIS = 1000;

    private final SinkOptions options;
    private final ProcessingTimeService timers;
    private final BatchLander lander;
    private final DeadLetters deadLetters;
    private final LatestPerKeyBuffer buffer = new LatestPerKeyBuffer();
    private final Map<String, StalledTable> stalled = new LinkedHashMap<>();
    private final Counter landedRows;
    private final Counter deadLetteredRows;
    private final Counter recordsSent;
    private final Counter recordErrors;
    private final Counter insertRetries;
    private final Counter batchesLanded;
    private volatile long pendingRows;
    private volatile long lastBatchRows;
    private volatile String stalledSummary = "";
    private volatile String lastDeadLetter = "";
    private long timerDue = Long.MAX_VALUE;

    ClickHouseWriter(SinkOptions options, ProcessingTimeService timers, Inserter inserter,
            DeadLetters deadLetters, SinkWriterMetricGroup metrics) {
        this.options = options;
        this.timers = timers;
        this.deadLetters = deadLetters;
        this.lander = new BatchLander(inserter, deadLetters);
        this.landedRows = metrics.counter("erpbiRowsLanded");
        this.deadLetteredRows = metrics.counter("erpbiRowsDeadLettered");
        // Monitoring (Prometheus, via the monitor's Flink REST collector): failed inserts
        // that will be retried, and the size of what lands per insert.
        this.insertRetries = metrics.counter("erpbiInsertRetries");
        this.batchesLanded = metrics.counter("erpbiBatchesLanded");
        metrics.gauge("erpbiLastBatchRows", () -> lastBatchRows);
        this.recordsSent = metrics.getNumRecordsSendCounter();
        this.recordErrors = metrics.getNumRecordsOutErrorsCounter();
        metrics.gauge("erpbiPendingRows", () -> pendingRows);
        metrics.gauge("erpbiStalledTables", () -> stalledSummary);
        metrics.gauge("erpbiLastDeadLetter", () -> lastDeadLetter);
    }

    /** A writer restored from a checkpoint: its waiting rows are inserted first. */
    void restore(Collection<PendingRows> states) {
        int restored = 0;
        for (PendingRows state : states) {
            buffer.addAll(state.rows());
            restored += state.rows().size();
        }
        if (restored > 0) {
            LOG.info("restored {} rows that were not yet in ClickHouse at the checkpoint", restored);
            armTimer(timers.getCurrentProcessingTime());
        }
    }

    @Override
    public void write(RowData row, Context context) throws IOException, InterruptedException {
        RowKind kind = row.getRowKind();
        if (kind == RowKind.UPDATE_BEFORE || kind == RowKind.DELETE) {
            return;
        }
        buffer.add(new LandingRow(row.getString(0).toString(), row.getString(1).toString(), row.getLong(2),
                row.getString(3).toBytes()));
        if (buffer.size() >= options.flushMaxRows()) {
            land();
        } else {
            armTimer(timers.getCurrentProcessingTime() + options.flushIntervalMillis());
        }
        while (pendingRows > options.maxPendingRows()) {
            LOG.warn("{} rows wait for tables ClickHouse does not take ({}); holding the job until they land",
                    pendingRows, stalledSummary);
            Thread.sleep(BLOCKED_POLL_MILLIS);
            land();
        }
    }

    @Override
    public void flush(boolean endOfInput) throws IOException, InterruptedException {
        land();
        while (endOfInput && !stalled.isEmpty()) { // a bounded input ends only once every row is in
            Thread.sleep(BLOCKED_POLL_MILLIS);
            land();
        }
    }

    @Override
    public List<PendingRows> snapshotState(long checkpointId) {
        List<LandingRow> waiting = new ArrayList<>();
        stalled.values().forEach(table -> waiting.addAll(table.rows));
        waiting.addAll(buffer.rows());
        if (waiting.isEmpty()) {
            return List.of();
        }
        LOG.info("checkpoint {} holds {} rows not yet in ClickHouse: {}", checkpointId, waiting.size(), stalledSummary);
        return List.of(new PendingRows(waiting));
    }

    private void land() throws IOException, InterruptedException {
        Map<String, List<LandingRow>> drained = buffer.drain();
        Set<String> tables = new LinkedHashSet<>(stalled.keySet());
        tables.addAll(drained.keySet());
        long now = timers.getCurrentProcessingTime();
        int deadLettered = 0;
        for (String table : tables) {
            StalledTable waiting = stalled.get(table);
            List<LandingRow> rows = merged(waiting, drained.getOrDefault(table, List.of()));
            if (waiting != null && !waiting.due(now)) {
                waiting.rows = rows;
                continue;
            }
            BatchLander.Outcome outcome = lander.land(table, rows);
            landedRows.inc(outcome.landed());
            recordsSent.inc(outcome.landed());
            if (outcome.landed() > 0) {
                batchesLanded.inc();
                lastBatchRows = outcome.landed();
            }
            deadLettered += outcome.deadLettered();
            if (outcome.complete()) {
                if (waiting != null) {
                    LOG.info("{} lands again after {} failed attempts", table, waiting.attempts);
                    stalled.remove(table);
                }
                continue;
            }
            if (waiting == null) {
                waiting = new StalledTable(now, outcome.notLanded());
                stalled.put(table, waiting);
            }
            waiting.rows = outcome.notLanded();
            waiting.failed(now, outcome.retriable().getMessage(), options.retryMaxBackoffMillis());
            insertRetries.inc();
            LOG.warn("insert of {} rows into {} failed ({}); the other tables go on, retrying in {} ms",
                    waiting.rows.size(), table, waiting.error, waiting.nextAttemptMillis - now);
        }
        if (deadLettered > 0) {
            deadLetters.flush();
            deadLetteredRows.inc(deadLettered);
            recordErrors.inc(deadLettered);
            lastDeadLetter = deadLettered + " rows refused by ClickHouse, last at " + java.time.Instant.now();
            LOG.warn("{} rows refused by ClickHouse went to the dead-letter topics", deadLettered);
        }
        publishState();
        stalled.values().stream().mapToLong(t -> t.nextAttemptMillis).min()
                .ifPresent(due -> armTimer(timers.getCurrentProcessingTime() + Math.max(0, due - now)));
    }

    private static List<LandingRow> merged(StalledTable waiting, List<LandingRow> fresh) {
        if (waiting == null) {
            return fresh;
        }
        LatestPerKeyBuffer rows = new LatestPerKeyBuffer();
        rows.addAll(waiting.rows);
        rows.addAll(fresh);
        return rows.drain().values().stream().findFirst().orElse(List.of());
    }

    private void publishState() {
        long waiting = 0;
        StringJoiner summary = new StringJoiner("; ");
        for (Map.Entry<String, StalledTable> table : stalled.entrySet()) {
            waiting += table.getValue().rows.size();
            summary.add(table.getValue().describe(table.getKey()));
        }
        pendingRows = waiting;
        stalledSummary = summary.toString();
    }

    private void armTimer(long due) {
        if (due >= timerDue) {
            return;
        }
        timerDue = due;
        timers.registerTimer(due, time -> {
            timerDue = Long.MAX_VALUE;
            land();
        });
    }

    @Override
    public void close() {
        deadLetters.close();
        // Rows not yet inserted are either in the last checkpoint (stalled tables) or after
        // it in Kafka: both come back after a restart.
    }
}
