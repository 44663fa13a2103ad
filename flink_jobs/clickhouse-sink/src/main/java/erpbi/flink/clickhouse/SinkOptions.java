package erpbi.flink.clickhouse;

import java.io.Serializable;

/** Where and how often the sink writes; the password never appears in {@link #toString()}. */
public record SinkOptions(
        String url,
        String database,
        String username,
        String password,
        long flushIntervalMillis,
        int flushMaxRows,
        long retryMaxBackoffMillis) implements Serializable {

    @Override
    public String toString() {
        return "SinkOptions[url=" + url + ", database=" + database + ", username=" + username
                + ", password=***, flushIntervalMillis=" + flushIntervalMillis
                + ", flushMaxRows=" + flushMaxRows + "]";
    }
}
