package erpbi.flink.clickhouse;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

import org.junit.jupiter.api.Test;

class BatchLanderTest {

    private static List<LandingRow> rows(int count, Set<Integer> bad) {
        List<LandingRow> rows = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            String payload = "{\"io_id\":\"IO-" + i + "\",\"ts\":" + (bad.contains(i) ? "\"BAD\"" : "7") + "}";
            rows.add(Fakes.row("dwd_sale_out", "IO-" + i, 7, payload));
        }
        return rows;
    }

    @Test
    void refusedRowsAreDeadLetteredWithTheErrorAndEveryOtherRowLands() throws Exception {
        Fakes.ClickHouse clickhouse = new Fakes.ClickHouse();
        clickhouse.refuse = (table, body) -> body.contains("BAD") ? Fakes.content("Unsigned type must not contain '-'") : null;
        Fakes.DeadLetterTopic topic = new Fakes.DeadLetterTopic();
        BatchLander.Outcome outcome = new BatchLander(clickhouse, topic).land("dwd_sale_out", rows(1000, Set.of(3, 500, 999)));

        assertEquals(997, outcome.landed());
        assertEquals(997, new HashSet<>(clickhouse.landed).size());
        assertEquals(3, outcome.deadLettered());
        assertEquals(3, topic.letters.size());
        assertTrue(topic.letters.get(0).startsWith("dwd_sale_out:{\"io_id\":\"IO-3\",\"ts\":\"BAD\"} <- HTTP 400: Code: 72."),
                topic.letters.get(0));
        assertTrue(outcome.complete());
        // about 2 k log2(n) inserts, not one per row
        assertTrue(clickhouse.calls <= 1 + 2 * 3 * 10, "inserts: " + clickhouse.calls);
    }

    @Test
    void aRetriableFailureHandsBackEveryRowNotYetLanded() throws Exception {
        Fakes.ClickHouse clickhouse = new Fakes.ClickHouse();
        int[] call = {0};
        clickhouse.refuse = (table, body) -> {
            call[0]++;
            if (call[0] == 1) {
                return Fakes.content("bad row");   // split
            }
            if (call[0] == 3) {
                return Fakes.tooManyParts();       // the second half cannot be written now
            }
            return body.contains("BAD") ? Fakes.content("bad row") : null;
        };
        Fakes.DeadLetterTopic topic = new Fakes.DeadLetterTopic();
        List<LandingRow> all = rows(100, Set.of(10));
        BatchLander.Outcome outcome = new BatchLander(clickhouse, topic).land("dwd_sale_out", all);

        assertEquals(false, outcome.complete());
        assertEquals(InsertFailure.Kind.RETRIABLE, outcome.retriable().kind());
        // rows 0-24 were refused retriably, 25-49 and 50-99 not tried yet: all handed back, none lost
        assertEquals(0, outcome.landed());
        assertEquals(all, outcome.notLanded().stream().sorted(
                java.util.Comparator.comparingInt(row -> Integer.parseInt(row.key().substring(3)))).toList());
        assertEquals(0, topic.letters.size());
    }
}
