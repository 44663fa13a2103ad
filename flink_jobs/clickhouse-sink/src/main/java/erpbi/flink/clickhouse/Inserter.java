package erpbi.flink.clickhouse;

/** Inserts one JSONEachRow body into one table, or says why it could not. */
interface Inserter {
    void insert(String table, byte[] body) throws InsertFailure, InterruptedException;
}
