package erpbi.flink.clickhouse;

import java.io.IOException;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;

/** One INSERT ... FORMAT JSONEachRow over ClickHouse's HTTP interface. */
class ClickHouseHttp {

    private static final Duration TIMEOUT = Duration.ofSeconds(60);
    private final SinkOptions options;
    private HttpClient client;

    ClickHouseHttp(SinkOptions options) {
        this.options = options;
    }

    /** Throws with ClickHouse's own error text when the server refuses the batch. */
    void insert(String table, byte[] body) throws IOException, InterruptedException {
        String query = "INSERT INTO `" + table.replace("`", "") + "` FORMAT JSONEachRow";
        URI uri = URI.create(options.url().replaceAll("/+$", "") + "/?database="
                + encode(options.database()) + "&query=" + encode(query)
                + "&date_time_input_format=best_effort&input_format_skip_unknown_fields=1");
        HttpRequest request = HttpRequest.newBuilder(uri)
                .timeout(TIMEOUT)
                .header("X-ClickHouse-User", options.username())
                .header("X-ClickHouse-Key", options.password())
                .header("Content-Type", "application/x-ndjson; charset=utf-8")
                .POST(HttpRequest.BodyPublishers.ofByteArray(body))
                .build();
        HttpResponse<String> response = client().send(request, HttpResponse.BodyHandlers.ofString());
        if (response.statusCode() != 200) {
            String text = response.body();
            throw new IOException("HTTP " + response.statusCode() + ": "
                    + (text.length() > 300 ? text.substring(0, 300) : text).strip());
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

    /** Forget the connection pool after a failure (the server may have restarted). */
    void reset() {
        client = null;
    }

    private static String encode(String value) {
        return URLEncoder.encode(value, StandardCharsets.UTF_8);
    }
}
