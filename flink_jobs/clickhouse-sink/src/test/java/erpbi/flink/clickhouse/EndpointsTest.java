package erpbi.flink.clickhouse;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.List;

import org.junit.jupiter.api.Test;

class EndpointsTest {

    private long now = 5_000_000_000L;
    private final Endpoints endpoints = new Endpoints(" http://a:8123/, http://b:8123,,http://c:8123", () -> now);

    @Test
    void theListIsTrimmedAndOneUrlIsEnough() {
        assertEquals("http://a:8123", endpoints.url(0));
        assertEquals("http://c:8123", endpoints.url(2));
        assertEquals(List.of(0), new Endpoints("http://127.0.0.1:8123", () -> now).order());
        assertThrows(IllegalArgumentException.class, () -> new Endpoints(" , ", () -> now));
    }

    @Test
    void theFirstServerIsTriedFirstThenTheOthersRoundRobin() {
        assertEquals(List.of(0, 1, 2), endpoints.order());
    }

    @Test
    void theServerThatLastAnsweredStaysInUse() {
        endpoints.order();
        endpoints.unreachable(0);
        endpoints.unreachable(1);
        endpoints.answered(2);
        assertEquals(List.of(2, 0, 1), endpoints.order());
        endpoints.answered(2);
        assertEquals(List.of(2, 0, 1), endpoints.order());
    }

    @Test
    void thePreferredServerIsTriedAgainAtMostEvery30Seconds() {
        endpoints.order();
        endpoints.unreachable(0);
        endpoints.answered(1);
        now += Endpoints.PREFERRED_RETRY_NANOS - 1;
        assertEquals(List.of(1, 2, 0), endpoints.order());
        now += 1;
        assertEquals(List.of(0, 1, 2), endpoints.order());
        endpoints.unreachable(0); // still away: the current one goes on, the next try in 30 s
        endpoints.answered(1);
        now += Endpoints.PREFERRED_RETRY_NANOS / 2;
        assertEquals(List.of(1, 2, 0), endpoints.order());
        now += Endpoints.PREFERRED_RETRY_NANOS / 2;
        assertEquals(List.of(0, 1, 2), endpoints.order());
        endpoints.answered(0); // back: writes return to it
        assertEquals(List.of(0, 1, 2), endpoints.order());
    }

    @Test
    void theCurrentServerComesBeforeTheRestWhenThePreferredOneIsDue() {
        endpoints.order();
        endpoints.unreachable(0);
        endpoints.unreachable(1);
        endpoints.answered(2);
        now += Endpoints.PREFERRED_RETRY_NANOS;
        assertEquals(List.of(0, 2, 1), endpoints.order());
    }
}
