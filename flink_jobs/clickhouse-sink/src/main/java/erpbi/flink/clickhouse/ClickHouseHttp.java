package erpbi.flink.clickhouse;

import java.io.IOException;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;

/**
 * One INSERT ... FORMAT JSONEachRow over ClickHouse's HTTP interface, to the first of the
 * {@link Endpoints} that answers.
 *
 * <p>Unknown fields are not skipped: a column the job writes and the table lacks is an error
 * (dead-lettered with ClickHouse's text), never a silent loss. Any HTTP answer is ClickHouse
 * judging the rows and is thrown as is; only a server that does not answer hands over to the next.
 */
class ClickHouseHttp implements Inserter {

    private static final Duration TIMEOUT = Duration.ofSeconds(60);
    private final SinkOptions options;
    private final Endpoints endpoints;
    private final Map<Integer, HttpClient> clients = new HashMap<>();

    ClickHouseHttp(SinkOptions options) {
        this(options, new Endpoints(options.url()));
    }

    ClickHouseHttp(SinkOptions options, Endpoints endpoints) {
        this.options = options;
        this.endpoints = endpoints;
    }

    @Override
    public void insert(String table, byte[] body) throws InsertFailure, InterruptedException {
        String query = "INSERT INTO `" + table.replace("`", "") + "` FORMAT JSONEachRow";
        String path = "/?database=" + encode(options.database()) + "&query=" + encode(query)
                + "&date_time_input_format=best_effort";
        IOException lastError = null;
        for (int server : endpoints.order()) {
            HttpResponse<String> response;
            try {
                response = client(server).send(request(endpoints.url(server) + path, body),
                        HttpResponse.BodyHandlers.ofString());
            } catch (IOException error) {
                clients.remove(server); // forget the connection pool: the server may have restarted
                endpoints.unreachable(server);
                lastError = error;
                continue;
            }
            endpoints.answered(server);
            if (response.statusCode() != 200) {
                throw InsertFailure.answered(response.statusCode(),
                        response.headers().firstValue("X-ClickHouse-Exception-Code").orElse(null),
                        response.body());
            }
            return;
        }
        throw InsertFailure.unreachable(lastError);
    }

    private HttpRequest request(String uri, byte[] body) {
        return HttpRequest.newBuilder(URI.create(uri))
                .timeout(TIMEOUT)
                .header("X-ClickHouse-User", options.username())
                .header("X-ClickHouse-Key", options.password())
                .header("Content-Type", "application/x-ndjson; charset=utf-8")
                .POST(HttpRequest.BodyPublishers.ofByteArray(body))
                .build();
    }

    private HttpClient client(int server) {
        return clients.computeIfAbsent(server, unused -> HttpClient.newBuilder()
                .connectTimeout(Duration.ofSeconds(5))
                .version(HttpClient.Version.HTTP_1_1)
                .build());
    }

    private static String encode(String value) {
        return URLEncoder.encode(value, StandardCharsets.UTF_8);
    }
}
