package erpbi.flink.clickhouse;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.Map;
import java.util.Properties;

import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;

/**
 * Dead letters on the stream's topic ({@code erp.dlq.<stream>}), in the shape the job's own
 * dead letters have: {@code stream, stage, reason, payload, failed_at}, plus {@code table}
 * and {@code row_key}. {@code stage} is {@code clickhouse.<table>}, {@code reason} is
 * ClickHouse's error text and {@code payload} the JSONEachRow line ClickHouse refused, so a
 * replay can insert it as it is once the cause is fixed.
 */
final class KafkaDeadLetters implements DeadLetters {

    private static final DateTimeFormatter FAILED_AT =
            DateTimeFormatter.ofPattern("yyyy-MM-dd HH:mm:ss.SSS'Z'").withZone(ZoneOffset.UTC);

    private final Map<String, SinkOptions.DeadLetterTopic> topics;
    private final KafkaProducer<byte[], byte[]> producer;
    private volatile IOException failure; // set on the producer's I/O thread

    KafkaDeadLetters(SinkOptions options) {
        this.topics = options.deadLetterTopics();
        Properties properties = new Properties();
        properties.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, options.deadLetterBootstrapServers());
        properties.put(ProducerConfig.ACKS_CONFIG, "all");
        properties.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, "true");
        properties.put(ProducerConfig.CLIENT_ID_CONFIG, "erpbi-clickhouse-sink-dead-letters");
        // The producer's classes are shaded into this jar: load them from here, not the job's loader.
        ClassLoader previous = Thread.currentThread().getContextClassLoader();
        Thread.currentThread().setContextClassLoader(KafkaDeadLetters.class.getClassLoader());
        try {
            this.producer = new KafkaProducer<>(properties, new ByteArraySerializer(), new ByteArraySerializer());
        } finally {
            Thread.currentThread().setContextClassLoader(previous);
        }
    }

    @Override
    public void send(LandingRow row, String reason) throws IOException {
        SinkOptions.DeadLetterTopic topic = topics.get(row.table());
        if (topic == null) {
            throw new IOException("no dead-letter topic is configured for table " + row.table());
        }
        String value = "{\"stream\":" + Json.quote(topic.stream())
                + ",\"stage\":" + Json.quote("clickhouse." + row.table())
                + ",\"reason\":" + Json.quote(reason)
                + ",\"payload\":" + Json.quote(new String(row.payload(), StandardCharsets.UTF_8))
                + ",\"failed_at\":" + Json.quote(FAILED_AT.format(Instant.now()))
                + ",\"table\":" + Json.quote(row.table())
                + ",\"row_key\":" + Json.quote(row.key()) + "}";
        producer.send(new ProducerRecord<>(topic.topic(), row.key().getBytes(StandardCharsets.UTF_8),
                value.getBytes(StandardCharsets.UTF_8)), (metadata, error) -> {
                    if (error != null) {
                        failure = new IOException("dead letter to " + topic.topic() + " failed", error);
                    }
                });
    }

    @Override
    public void flush() throws IOException {
        producer.flush();
        if (failure != null) {
            IOException error = failure;
            failure = null;
            throw error;
        }
    }

    @Override
    public void close() {
        producer.close();
    }
}
