package erpbi.flink.clickhouse;

import org.apache.flink.table.connector.ChangelogMode;
import org.apache.flink.table.connector.sink.DynamicTableSink;
import org.apache.flink.table.connector.sink.SinkV2Provider;

/**
 * Accepts the full changelog of the landing query. Retractions (UPDATE_BEFORE, DELETE) are
 * dropped by the writer: landing tables are ReplacingMergeTrees, so the next upsert of the
 * same key and version supersedes the row a retraction withdrew.
 */
final class ClickHouseDynamicSink implements DynamicTableSink {

    private final SinkOptions options;
    private final Integer parallelism;

    ClickHouseDynamicSink(SinkOptions options, Integer parallelism) {
        this.options = options;
        this.parallelism = parallelism;
    }

    @Override
    public ChangelogMode getChangelogMode(ChangelogMode requestedMode) {
        return requestedMode;
    }

    @Override
    public SinkRuntimeProvider getSinkRuntimeProvider(Context context) {
        return SinkV2Provider.of(new ClickHouseSink(options), parallelism);
    }

    @Override
    public DynamicTableSink copy() {
        return new ClickHouseDynamicSink(options, parallelism);
    }

    @Override
    public String asSummaryString() {
        return "ClickHouse[" + options.url() + "/" + options.database() + "]";
    }
}
