package erpbi.flink.clickhouse;

import java.net.URI;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.function.LongSupplier;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The warehouse servers of the {@code url} option ({@code http://a:8123,http://b:8123}) and
 * the one the sink writes to: the last that answered. One that does not answer hands over to
 * the next, round robin; while another server is in use, the first (preferred) one is tried
 * again at most every {@link #PREFERRED_RETRY_NANOS}, so writes go back to it once it is up.
 */
final class Endpoints {

    static final long PREFERRED_RETRY_NANOS = TimeUnit.SECONDS.toNanos(30);
    private static final Logger LOG = LoggerFactory.getLogger(Endpoints.class);

    private final List<String> urls = new ArrayList<>();
    private final LongSupplier nanoClock;
    private int current;
    private boolean currentFailed;
    private long preferredFailedAt;

    Endpoints(String option, LongSupplier nanoClock) {
        for (String url : option.split(",")) {
            if (!url.isBlank()) {
                urls.add(url.strip().replaceAll("/+$", ""));
            }
        }
        if (urls.isEmpty()) {
            throw new IllegalArgumentException("url wants one or more ClickHouse HTTP endpoints: " + option);
        }
        this.nanoClock = nanoClock;
    }

    Endpoints(String option) {
        this(option, System::nanoTime);
    }

    String url(int index) {
        return urls.get(index);
    }

    /** Servers to try for one insert, each once: the preferred first when due, then the current one on. */
    List<Integer> order() {
        currentFailed = false;
        List<Integer> order = new ArrayList<>();
        if (current != 0 && nanoClock.getAsLong() - preferredFailedAt >= PREFERRED_RETRY_NANOS) {
            order.add(0);
        }
        for (int step = 0; step < urls.size(); step++) {
            int index = (current + step) % urls.size();
            if (!order.contains(index)) {
                order.add(index);
            }
        }
        return order;
    }

    /** The server answered (whatever the status): write to it from now on. */
    void answered(int index) {
        if (index != current) {
            if (currentFailed) {
                LOG.warn("warehouse {} does not answer, writing to {}", shown(current), shown(index));
            } else {
                LOG.info("warehouse {} answers again, writing to it instead of {}", shown(index), shown(current));
            }
            current = index;
        }
    }

    /** Connection refused, reset or timed out. */
    void unreachable(int index) {
        if (index == current) {
            currentFailed = true;
        }
        if (index == 0) {
            preferredFailedAt = nanoClock.getAsLong();
        }
    }

    /** The URL without any user:password@ part. */
    private String shown(int index) {
        String url = urls.get(index);
        String userInfo = URI.create(url).getRawUserInfo();
        return userInfo == null ? url : url.replace(userInfo + "@", "");
    }
}
