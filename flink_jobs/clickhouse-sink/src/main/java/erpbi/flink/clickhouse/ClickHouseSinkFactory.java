package erpbi.flink.clickhouse;

import java.time.Duration;
import java.util.List;
import java.util.Set;

import org.apache.flink.configuration.ConfigOption;
import org.apache.flink.configuration.ConfigOptions;
import org.apache.flink.configuration.ReadableConfig;
import org.apache.flink.table.api.ValidationException;
import org.apache.flink.table.catalog.ResolvedSchema;
import org.apache.flink.table.connector.sink.DynamicTableSink;
import org.apache.flink.table.factories.DynamicTableSinkFactory;
import org.apache.flink.table.factories.FactoryUtil;

/**
 * {@code 'connector' = 'erpbi-clickhouse'}: a table of landing rows
 * {@code (target_table STRING, row_key STRING, row_version BIGINT, payload STRING)}, where
 * {@code payload} is one JSONEachRow line for {@code target_table}. See {@link ClickHouseWriter}.
 */
public final class ClickHouseSinkFactory implements DynamicTableSinkFactory {

    public static final String IDENTIFIER = "erpbi-clickhouse";
    static final List<String> COLUMNS = List.of("target_table", "row_key", "row_version", "payload");

    public static final ConfigOption<String> URL = ConfigOptions.key("url").stringType()
            .noDefaultValue().withDescription("ClickHouse HTTP endpoints, comma-separated, preferred first,"
                    + " e.g. http://127.0.0.1:8123,http://10.0.0.2:8123: the sink writes to the last that"
                    + " answered, moves to the next when it does not answer and goes back to the first"
                    + " when that answers again (tried at most every 30 s)");
    public static final ConfigOption<String> DATABASE = ConfigOptions.key("database").stringType()
            .defaultValue("default");
    public static final ConfigOption<String> USERNAME = ConfigOptions.key("username").stringType()
            .defaultValue("default");
    public static final ConfigOption<String> PASSWORD = ConfigOptions.key("password").stringType()
            .defaultValue("");
    public static final ConfigOption<Duration> FLUSH_INTERVAL = ConfigOptions.key("flush-interval")
            .durationType().defaultValue(Duration.ofSeconds(1))
            .withDescription("Buffered rows are inserted at least this often (and at each checkpoint).");
    public static final ConfigOption<Integer> FLUSH_MAX_ROWS = ConfigOptions.key("flush-max-rows")
            .intType().defaultValue(20000);
    public static final ConfigOption<Integer> MAX_PENDING_ROWS = ConfigOptions.key("max-pending-rows")
            .intType().defaultValue(50000)
            .withDescription("Rows kept for tables ClickHouse does not take right now; past this the job waits.");
    public static final ConfigOption<String> DEAD_LETTER_BOOTSTRAP_SERVERS = ConfigOptions
            .key("dead-letter.bootstrap-servers").stringType().noDefaultValue()
            .withDescription("Kafka for the rows ClickHouse refuses.");
    public static final ConfigOption<String> DEAD_LETTER_STREAMS = ConfigOptions.key("dead-letter.streams")
            .stringType().noDefaultValue()
            .withDescription("table=stream,...: the stream whose dead-letter topic takes a table's refused rows.");
    public static final ConfigOption<String> DEAD_LETTER_TOPIC_PATTERN = ConfigOptions
            .key("dead-letter.topic-pattern").stringType().defaultValue("erp.dlq.{stream}");
    public static final ConfigOption<Duration> RETRY_MAX_BACKOFF = ConfigOptions.key("retry-max-backoff")
            .durationType().defaultValue(Duration.ofSeconds(30))
            .withDescription("Upper bound of the backoff between retries while ClickHouse is away.");

    @Override
    public String factoryIdentifier() {
        return IDENTIFIER;
    }

    @Override
    public Set<ConfigOption<?>> requiredOptions() {
        return Set.of(URL, DEAD_LETTER_BOOTSTRAP_SERVERS, DEAD_LETTER_STREAMS);
    }

    @Override
    public Set<ConfigOption<?>> optionalOptions() {
        return Set.of(DATABASE, USERNAME, PASSWORD, FLUSH_INTERVAL, FLUSH_MAX_ROWS, RETRY_MAX_BACKOFF,
                MAX_PENDING_ROWS, DEAD_LETTER_TOPIC_PATTERN, FactoryUtil.SINK_PARALLELISM);
    }

    @Override
    public DynamicTableSink createDynamicTableSink(Context context) {
        FactoryUtil.TableFactoryHelper helper = FactoryUtil.createTableFactoryHelper(this, context);
        helper.validate();
        ResolvedSchema schema = context.getCatalogTable().getResolvedSchema();
        if (!schema.getColumnNames().equals(COLUMNS)) {
            throw new ValidationException(
                    "an " + IDENTIFIER + " table has exactly the columns " + COLUMNS
                            + ", got " + schema.getColumnNames());
        }
        ReadableConfig options = helper.getOptions();
        SinkOptions sinkOptions = new SinkOptions(
                options.get(URL),
                options.get(DATABASE),
                options.get(USERNAME),
                options.get(PASSWORD),
                options.get(FLUSH_INTERVAL).toMillis(),
                options.get(FLUSH_MAX_ROWS),
                options.get(RETRY_MAX_BACKOFF).toMillis(),
                options.get(MAX_PENDING_ROWS),
                options.get(DEAD_LETTER_BOOTSTRAP_SERVERS),
                options.get(DEAD_LETTER_STREAMS),
                options.get(DEAD_LETTER_TOPIC_PATTERN));
        return new ClickHouseDynamicSink(sinkOptions, options.getOptional(FactoryUtil.SINK_PARALLELISM).orElse(null));
    }
}
