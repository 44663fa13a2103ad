package erpbi.flink.clickhouse;

import org.apache.flink.api.connector.sink2.Sink;
import org.apache.flink.api.connector.sink2.SinkWriter;
import org.apache.flink.api.connector.sink2.WriterInitContext;
import org.apache.flink.table.data.RowData;

/** A stateless Sink V2: every buffered row is inserted before a checkpoint completes. */
final class ClickHouseSink implements Sink<RowData> {

    private final SinkOptions options;

    ClickHouseSink(SinkOptions options) {
        this.options = options;
    }

    @Override
    public SinkWriter<RowData> createWriter(WriterInitContext context) {
        return new ClickHouseWriter(options, context.getProcessingTimeService(),
                new ClickHouseHttp(options));
    }
}
