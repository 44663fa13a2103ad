package erpbi.flink.clickhouse;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

import com.sun.net.httpserver.HttpServer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** Inserts against local HTTP servers standing in for the warehouse replicas. */
class ClickHouseHttpTest {

    /** A ClickHouse that answers every insert with {@link #status} and records the bodies it took. */
    static final class Server {
        final List<String> bodies = Collections.synchronizedList(new ArrayList<>());
        volatile int status = 200;
        final int port;
        private HttpServer http;

        Server(int port) throws IOException {
            http = HttpServer.create(new InetSocketAddress("127.0.0.1", port), 0);
            http.createContext("/", exchange -> {
                String body = new String(exchange.getRequestBody().readAllBytes(), StandardCharsets.UTF_8);
                byte[] answer = status == 200 ? new byte[0] : "Code: 252. Too many parts".getBytes(StandardCharsets.UTF_8);
                if (status == 200) {
                    bodies.add(body);
                } else {
                    exchange.getResponseHeaders().add("X-ClickHouse-Exception-Code", "252");
                }
                exchange.sendResponseHeaders(status, answer.length == 0 ? -1 : answer.length);
                exchange.getResponseBody().write(answer);
                exchange.close();
            });
            http.start();
            this.port = http.getAddress().getPort();
        }

        String url() {
            return "http://127.0.0.1:" + port;
        }

        void stop() {
            if (http != null) {
                http.stop(0);
                http = null;
            }
        }
    }

    private final List<Server> servers = new ArrayList<>();
    private long now = 1_000_000_000L;

    private Server server(int port) throws IOException {
        Server server = new Server(port);
        servers.add(server);
        return server;
    }

    private ClickHouseHttp sink(Server... replicas) {
        List<String> urls = new ArrayList<>();
        for (Server replica : replicas) {
            urls.add(replica.url());
        }
        SinkOptions options = new SinkOptions(String.join(",", urls), "erp", "default", "secret", 1000,
                20000, 8000, 50000, "127.0.0.1:1", "", "erp.dlq.{stream}");
        return new ClickHouseHttp(options, new Endpoints(options.url(), () -> now));
    }

    private static byte[] row(String text) {
        return ("{\"k\":\"" + text + "\"}").getBytes(StandardCharsets.UTF_8);
    }

    @AfterEach
    void stopServers() {
        servers.forEach(Server::stop);
    }

    @Test
    void whenTheFirstServerStopsTheInsertLandsOnTheNext() throws Exception {
        Server first = server(0);
        Server second = server(0);
        ClickHouseHttp sink = sink(first, second);
        sink.insert("dwd_sale_out", row("a"));
        first.stop();
        sink.insert("dwd_sale_out", row("b"));
        sink.insert("dwd_sale_out", row("c"));

        assertEquals(List.of("{\"k\":\"a\"}"), first.bodies);
        assertEquals(List.of("{\"k\":\"b\"}", "{\"k\":\"c\"}"), second.bodies);
    }

    @Test
    void anHttpErrorIsThrownWithoutTryingAnotherServer() throws Exception {
        Server first = server(0);
        Server second = server(0);
        first.status = 500;
        ClickHouseHttp sink = sink(first, second);
        InsertFailure failure = assertThrows(InsertFailure.class, () -> sink.insert("dwd_sale_out", row("a")));

        assertTrue(failure.getMessage().startsWith("HTTP 500: Code: 252."), failure.getMessage());
        assertEquals(List.of(), second.bodies);
        first.status = 200;
        sink.insert("dwd_sale_out", row("b"));
        assertEquals(List.of("{\"k\":\"b\"}"), first.bodies);
    }

    @Test
    void noServerAnsweringIsUnreachableAndRetriable() throws Exception {
        Server first = server(0);
        Server second = server(0);
        ClickHouseHttp sink = sink(first, second);
        first.stop();
        second.stop();
        InsertFailure failure = assertThrows(InsertFailure.class, () -> sink.insert("dwd_sale_out", row("a")));

        assertEquals(InsertFailure.Kind.RETRIABLE, failure.kind());
        assertTrue(failure.getMessage().startsWith("ClickHouse unreachable"), failure.getMessage());
    }

    @Test
    void writesReturnToTheFirstServerOnceItAnswersAgain() throws Exception {
        Server first = server(0);
        Server second = server(0);
        ClickHouseHttp sink = sink(first, second);
        int port = first.port;
        first.stop();
        sink.insert("dwd_sale_out", row("a"));
        Server back = server(port);
        sink.insert("dwd_sale_out", row("b")); // not yet: at most every 30 s
        now += Endpoints.PREFERRED_RETRY_NANOS;
        sink.insert("dwd_sale_out", row("c"));
        sink.insert("dwd_sale_out", row("d"));

        assertEquals(List.of("{\"k\":\"a\"}", "{\"k\":\"b\"}"), second.bodies);
        assertEquals(List.of("{\"k\":\"c\"}", "{\"k\":\"d\"}"), back.bodies);
    }
}
