package erpbi.flink.clickhouse;

import java.io.Serializable;
import java.util.LinkedHashMap;
import java.util.Map;

/** Where and how often the sink writes; the password never appears in {@link #toString()}. */
public record SinkOptions(
        String url,
        String database,
        String username,
        String password,
        long flushIntervalMillis,
        int flushMaxRows,
        long retryMaxBackoffMillis,
        int maxPendingRows,
        String deadLetterBootstrapServers,
        String deadLetterStreams,
        String deadLetterTopicPattern) implements Serializable {

    /** The dead-letter topic of one landing table, and the stream it belongs to. */
    record DeadLetterTopic(String stream, String topic) implements Serializable {}

    /** {@code table=stream,...} with the pattern {@code erp.dlq.{stream}} -> table -> topic. */
    Map<String, DeadLetterTopic> deadLetterTopics() {
        Map<String, DeadLetterTopic> topics = new LinkedHashMap<>();
        for (String pair : deadLetterStreams.split(",")) {
            if (pair.isBlank()) {
                continue;
            }
            String[] parts = pair.split("=", 2);
            if (parts.length != 2) {
                throw new IllegalArgumentException("dead-letter.streams wants table=stream pairs: " + pair);
            }
            String stream = parts[1].strip();
            topics.put(parts[0].strip(), new DeadLetterTopic(stream, deadLetterTopicPattern.replace("{stream}", stream)));
        }
        return topics;
    }

    @Override
    public String toString() {
        return "SinkOptions[url=" + url + ", database=" + database + ", username=" + username
                + ", password=***, flushIntervalMillis=" + flushIntervalMillis
                + ", flushMaxRows=" + flushMaxRows + ", maxPendingRows=" + maxPendingRows
                + ", deadLetters=" + deadLetterBootstrapServers + "]";
    }
}
