package erpbi.flink.clickhouse;

import java.io.IOException;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;

/**
 * One INSERT ... FORMAT JSONEachRow over ClickHouse's HTTP interface.
 *
 * <p>Unknown fields are not skipped: a column the job writes and the table lacks is an error
 * (dead-lettered with ClickHouse's text), never a silent loss.
 */
class ClickHouseHttp implements Inserter {

    private static final Duration TIMEOUT = Duration.ofSeconds(60);
    private final SinkOptions options;
    private HttpClient client;

    ClickHouseHttp(SinkOptions options) {
        this.options = options;
    }

    @Override
    public void insert(String table, byte[] body) throws InsertFailure, InterruptedException {
        String query = "INSERT INTO `" + table.replace("`", "") + "` FORMAT JSONEachRow";
        URI uri = URI.create(options.url().replaceAll("/+$", "") + "/?database="
                + encode(options.database()) + "&query=" + encode(query)
                + "&date_time_input_format=best_effort");
        HttpRequest request = HttpRequest.newBuilder(uri)
                .timeout(TIMEOUT)
                .header("X-ClickHouse-User", options.username())
                .header("X-ClickHouse-Key", options.password())
                .header("Content-Type", "application/x-ndjson; charset=utf-8")
                .POST(HttpRequest.BodyPublishers.ofByteArray(body))
                .build();
        HttpResponse<String> response;
        try {
            response = client().send(request, HttpResponse.BodyHandlers.ofString());
        } catch (IOException error) {
            client = null; // forget the connection pool: the server may have restarted
            throw InsertFailure.unreachable(error);
        }
        if (response.statusCode() != 200) {
            throw InsertFailure.answered(response.statusCode(),
                    response.headers().firstValue("X-ClickHouse-Exception-Code").orElse(null),
                    response.body());
        }
    }

    private HttpClient client() {
        if (client == null) {
            client = HttpClient.newBuilder()
                    .connectTimeout(Duration.ofSeconds(5))
                    .version(HttpClient.Version.HTTP_1_1)
                    .build();
        }
        return client;
    }

    private static String encode(String value) {
        return URLEncoder.encode(value, StandardCharsets.UTF_8);
    }
}
