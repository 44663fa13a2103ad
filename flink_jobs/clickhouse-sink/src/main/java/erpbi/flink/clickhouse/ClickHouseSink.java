package erpbi.flink.clickhouse;

import java.util.Collection;
import java.util.List;

import org.apache.flink.api.connector.sink2.Sink;
import org.apache.flink.api.connector.sink2.StatefulSinkWriter;
import org.apache.flink.api.connector.sink2.SupportsWriterState;
import org.apache.flink.api.connector.sink2.WriterInitContext;
import org.apache.flink.core.io.SimpleVersionedSerializer;
import org.apache.flink.table.data.RowData;

/**
 * A Sink V2 whose writer state is the rows a stalled table has not taken yet: every other
 * buffered row is inserted before a checkpoint completes, and those rows are in it.
 */
final class ClickHouseSink implements Sink<RowData>, SupportsWriterState<RowData, PendingRows> {

    private final SinkOptions options;

    ClickHouseSink(SinkOptions options) {
        this.options = options;
    }

    @Override
    public StatefulSinkWriter<RowData, PendingRows> createWriter(WriterInitContext context) {
        return restoreWriter(context, List.of());
    }

    @Override
    public StatefulSinkWriter<RowData, PendingRows> restoreWriter(WriterInitContext context,
            Collection<PendingRows> states) {
        ClickHouseWriter writer = new ClickHouseWriter(options, context.getProcessingTimeService(),
                new ClickHouseHttp(options), new KafkaDeadLetters(options), context.metricGroup());
        writer.restore(states);
        return writer;
    }

    @Override
    public SimpleVersionedSerializer<PendingRows> getWriterStateSerializer() {
        return new PendingRows.Serializer();
    }
}
