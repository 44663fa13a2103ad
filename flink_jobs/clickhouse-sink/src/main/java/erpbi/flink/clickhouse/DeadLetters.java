package erpbi.flink.clickhouse;

import java.io.IOException;

/** Where rows ClickHouse refuses go, with ClickHouse's own error text. */
interface DeadLetters extends AutoCloseable {

    void send(LandingRow row, String reason) throws IOException;

    /** Returns once every row sent so far is stored (before a checkpoint may complete). */
    void flush() throws IOException;

    @Override
    void close();
}
