package erpbi.flink.clickhouse;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;

import org.apache.flink.metrics.groups.UnregisteredMetricsGroup;
import org.apache.flink.table.data.GenericRowData;
import org.apache.flink.table.data.StringData;
import org.junit.jupiter.api.Test;

class ClickHouseWriterTest {

    private static final SinkOptions OPTIONS = new SinkOptions("http://127.0.0.1:1", "erp", "default", "", 1000,
            20000, 8000, 50000, "127.0.0.1:1", "dwd_sale_out=outbound,dws_inventory=inventory", "erp.dlq.{stream}");

    private static GenericRowData landing(String table, String key, long version) {
        return GenericRowData.of(StringData.fromString(table), StringData.fromString(key), version,
                StringData.fromString("{\"k\":\"" + key + "\",\"v\":" + version + "}"));
    }

    @Test
    void oneTableThatCannotBeWrittenHoldsNoOtherTableBackAndIsInTheCheckpoint() throws Exception {
        Fakes.Clock clock = new Fakes.Clock();
        Fakes.ClickHouse clickhouse = new Fakes.ClickHouse();
        boolean[] outboundDown = {true};
        clickhouse.refuse = (table, body) -> table.equals("dwd_sale_out") && outboundDown[0] ? Fakes.tooManyParts() : null;
        ClickHouseWriter writer = new ClickHouseWriter(OPTIONS, clock, clickhouse, new Fakes.DeadLetterTopic(),
                UnregisteredMetricsGroup.createSinkWriterMetricGroup());

        writer.write(landing("dwd_sale_out", "IO-1", 5), null);
        writer.write(landing("dws_inventory", "SKU-1|1", 9), null);
        writer.flush(false);
        assertEquals(List.of("dws_inventory:{\"k\":\"SKU-1|1\",\"v\":9}"), clickhouse.landed);

        writer.write(landing("dws_inventory", "SKU-2|1", 10), null);
        writer.write(landing("dwd_sale_out", "IO-1", 6), null);   // a newer version while it waits
        clock.advance(1000);
        assertTrue(clickhouse.landed.contains("dws_inventory:{\"k\":\"SKU-2|1\",\"v\":10}"));

        List<PendingRows> state = writer.snapshotState(1);
        assertEquals(1, state.size());
        assertEquals(List.of("IO-1"), state.get(0).rows().stream().map(LandingRow::key).toList());
        assertEquals(6, state.get(0).rows().get(0).version());

        outboundDown[0] = false;
        clock.advance(10_000);
        assertTrue(clickhouse.landed.contains("dwd_sale_out:{\"k\":\"IO-1\",\"v\":6}"), clickhouse.landed.toString());
        assertEquals(List.of(), writer.snapshotState(2));
    }

    @Test
    void aRestoredWriterLandsTheRowsItsCheckpointHeld() throws Exception {
        Fakes.Clock clock = new Fakes.Clock();
        Fakes.ClickHouse clickhouse = new Fakes.ClickHouse();
        ClickHouseWriter writer = new ClickHouseWriter(OPTIONS, clock, clickhouse, new Fakes.DeadLetterTopic(),
                UnregisteredMetricsGroup.createSinkWriterMetricGroup());
        PendingRows held = new PendingRows(List.of(Fakes.row("dwd_sale_out", "IO-9", 3, "{\"io_id\":\"IO-9\"}")));
        PendingRows.Serializer serializer = new PendingRows.Serializer();
        writer.restore(List.of(serializer.deserialize(serializer.getVersion(), serializer.serialize(held))));
        clock.advance(0);
        assertEquals(List.of("dwd_sale_out:{\"io_id\":\"IO-9\"}"), clickhouse.landed);
    }
}
