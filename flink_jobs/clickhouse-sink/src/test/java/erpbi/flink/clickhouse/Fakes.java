package erpbi.flink.clickhouse;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ScheduledFuture;
import java.util.function.BiFunction;

import org.apache.flink.api.common.operators.ProcessingTimeService;

/** Test doubles: a ClickHouse that refuses what a rule says, a dead-letter topic, a clock. */
final class Fakes {

    private Fakes() {}

    static LandingRow row(String table, String key, long version, String payload) {
        return new LandingRow(table, key, version, payload.getBytes(StandardCharsets.UTF_8));
    }

    /** Inserts unless {@code refuse} returns a failure for (table, body). */
    static final class ClickHouse implements Inserter {
        final List<String> landed = new ArrayList<>();
        int calls;
        BiFunction<String, String, InsertFailure> refuse = (table, body) -> null;

        @Override
        public void insert(String table, byte[] body) throws InsertFailure {
            calls++;
            String text = new String(body, StandardCharsets.UTF_8);
            InsertFailure failure = refuse.apply(table, text);
            if (failure != null) {
                throw failure;
            }
            for (String line : text.split("\n")) {
                landed.add(table + ":" + line);
            }
        }
    }

    static final class DeadLetterTopic implements DeadLetters {
        final List<String> letters = new ArrayList<>();
        int flushes;

        @Override
        public void send(LandingRow row, String reason) {
            letters.add(row.table() + ":" + new String(row.payload(), StandardCharsets.UTF_8) + " <- " + reason);
        }

        @Override
        public void flush() {
            flushes++;
        }

        @Override
        public void close() {}
    }

    /** Processing time that moves only when told; due timers fire on {@link #advance}. */
    static final class Clock implements ProcessingTimeService {
        long now = 1_000_000;
        final TreeMap<Long, List<ProcessingTimeCallback>> timers = new TreeMap<>();

        @Override
        public long getCurrentProcessingTime() {
            return now;
        }

        @Override
        public ScheduledFuture<?> registerTimer(long time, ProcessingTimeCallback callback) {
            timers.computeIfAbsent(time, t -> new ArrayList<>()).add(callback);
            return null;
        }

        void advance(long millis) throws Exception {
            now += millis;
            while (!timers.isEmpty() && timers.firstKey() <= now) {
                Map.Entry<Long, List<ProcessingTimeCallback>> due = timers.pollFirstEntry();
                for (ProcessingTimeCallback callback : due.getValue()) {
                    callback.onProcessingTime(due.getKey());
                }
            }
        }
    }

    static InsertFailure content(String text) {
        return InsertFailure.answered(400, "72", "Code: 72. DB::Exception: " + text + ". (CANNOT_PARSE_NUMBER)");
    }

    static InsertFailure tooManyParts() {
        return InsertFailure.answered(500, "252", "Code: 252. DB::Exception: Too many parts. (TOO_MANY_PARTS)");
    }
}
