package erpbi.flink.clickhouse;

import java.io.IOException;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Why an insert failed, and so what the sink does next: {@link Kind#CONTENT} means ClickHouse
 * refused the rows themselves (split the batch, dead-letter the offending rows, land the
 * rest); {@link Kind#RETRIABLE} means the same insert can succeed later (keep the rows,
 * back off, retry).
 *
 * <p>Decided by ClickHouse's error code first ({@link #KIND_BY_CODE}: the HTTP status alone
 * misleads, e.g. a decimal overflow is code 69 with status 500), then by the status: another
 * 4xx is about the request, everything else (5xx, connection refused, timeouts) is retried.
 */
final class InsertFailure extends IOException {

    enum Kind { CONTENT, RETRIABLE }

    /** ClickHouse error codes (ErrorCodes.cpp) -> what they say about the batch. */
    static final Map<Integer, Kind> KIND_BY_CODE = Map.ofEntries(
            // the rows: cannot be parsed or do not fit the columns
            Map.entry(6, Kind.CONTENT),     // CANNOT_PARSE_TEXT
            Map.entry(8, Kind.CONTENT),     // THERE_IS_NO_COLUMN
            Map.entry(16, Kind.CONTENT),    // NO_SUCH_COLUMN_IN_TABLE
            Map.entry(25, Kind.CONTENT),    // CANNOT_PARSE_ESCAPE_SEQUENCE
            Map.entry(26, Kind.CONTENT),    // CANNOT_PARSE_QUOTED_STRING
            Map.entry(27, Kind.CONTENT),    // CANNOT_PARSE_INPUT_ASSERTION_FAILED
            Map.entry(33, Kind.CONTENT),    // CANNOT_READ_ALL_DATA
            Map.entry(38, Kind.CONTENT),    // CANNOT_PARSE_DATE
            Map.entry(41, Kind.CONTENT),    // CANNOT_PARSE_DATETIME
            Map.entry(43, Kind.CONTENT),    // ILLEGAL_TYPE_OF_ARGUMENT
            Map.entry(44, Kind.CONTENT),    // ILLEGAL_COLUMN
            Map.entry(53, Kind.CONTENT),    // TYPE_MISMATCH
            Map.entry(69, Kind.CONTENT),    // ARGUMENT_OUT_OF_BOUND (decimal too big)
            Map.entry(70, Kind.CONTENT),    // CANNOT_CONVERT_TYPE
            Map.entry(72, Kind.CONTENT),    // CANNOT_PARSE_NUMBER
            Map.entry(117, Kind.CONTENT),   // INCORRECT_DATA (also: unknown field)
            Map.entry(131, Kind.CONTENT),   // TOO_LARGE_STRING_SIZE
            Map.entry(321, Kind.CONTENT),   // VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE
            Map.entry(349, Kind.CONTENT),   // CANNOT_INSERT_NULL_IN_ORDINARY_COLUMN
            Map.entry(376, Kind.CONTENT),   // CANNOT_PARSE_UUID
            Map.entry(407, Kind.CONTENT),   // DECIMAL_OVERFLOW
            Map.entry(469, Kind.CONTENT),   // VIOLATED_CONSTRAINT
            // the server or the setup: the same rows can land later
            Map.entry(3, Kind.RETRIABLE),   // UNEXPECTED_END_OF_FILE (connection cut)
            Map.entry(60, Kind.RETRIABLE),  // UNKNOWN_TABLE (migration not applied yet)
            Map.entry(81, Kind.RETRIABLE),  // UNKNOWN_DATABASE
            Map.entry(159, Kind.RETRIABLE), // TIMEOUT_EXCEEDED
            Map.entry(164, Kind.RETRIABLE), // READONLY
            Map.entry(192, Kind.RETRIABLE), // UNKNOWN_USER
            Map.entry(193, Kind.RETRIABLE), // WRONG_PASSWORD
            Map.entry(194, Kind.RETRIABLE), // REQUIRED_PASSWORD
            Map.entry(202, Kind.RETRIABLE), // TOO_MANY_SIMULTANEOUS_QUERIES
            Map.entry(203, Kind.RETRIABLE), // NO_FREE_CONNECTION
            Map.entry(209, Kind.RETRIABLE), // SOCKET_TIMEOUT
            Map.entry(210, Kind.RETRIABLE), // NETWORK_ERROR
            Map.entry(236, Kind.RETRIABLE), // ABORTED
            Map.entry(241, Kind.RETRIABLE), // MEMORY_LIMIT_EXCEEDED
            Map.entry(242, Kind.RETRIABLE), // TABLE_IS_READ_ONLY
            Map.entry(252, Kind.RETRIABLE), // TOO_MANY_PARTS
            Map.entry(394, Kind.RETRIABLE), // QUERY_WAS_CANCELLED
            Map.entry(425, Kind.RETRIABLE), // SYSTEM_ERROR
            Map.entry(439, Kind.RETRIABLE), // CANNOT_SCHEDULE_TASK
            Map.entry(497, Kind.RETRIABLE), // ACCESS_DENIED
            Map.entry(516, Kind.RETRIABLE), // AUTHENTICATION_FAILED
            Map.entry(999, Kind.RETRIABLE)  // KEEPER_EXCEPTION
    );

    private static final Pattern CODE_IN_BODY = Pattern.compile("Code:\\s*(\\d+)\\.");

    private final Kind kind;

    private InsertFailure(Kind kind, String message, Throwable cause) {
        super(message, cause);
        this.kind = kind;
    }

    Kind kind() {
        return kind;
    }

    boolean isContent() {
        return kind == Kind.CONTENT;
    }

    /** A failure the server answered: status, the exception-code header (may be null), the body. */
    static InsertFailure answered(int status, String codeHeader, String body) {
        Integer code = parseCode(codeHeader, body);
        Kind kind = code != null && KIND_BY_CODE.containsKey(code) ? KIND_BY_CODE.get(code) : byStatus(status);
        String text = body == null ? "" : body.strip();
        if (text.length() > 1000) {
            text = text.substring(0, 1000) + "...";
        }
        return new InsertFailure(kind, "HTTP " + status + ": " + text, null);
    }

    /** No answer at all: refused, reset, timed out. */
    static InsertFailure unreachable(IOException cause) {
        return new InsertFailure(Kind.RETRIABLE, "ClickHouse unreachable: " + cause, cause);
    }

    private static Kind byStatus(int status) {
        boolean aboutRequest = status >= 400 && status < 500
                && status != 401 && status != 403 && status != 404 && status != 408 && status != 429;
        return aboutRequest ? Kind.CONTENT : Kind.RETRIABLE;
    }

    private static Integer parseCode(String header, String body) {
        try {
            if (header != null && !header.isBlank()) {
                return Integer.parseInt(header.strip());
            }
        } catch (NumberFormatException ignored) {
            // fall through to the body
        }
        Matcher match = body == null ? null : CODE_IN_BODY.matcher(body);
        return match != null && match.find() ? Integer.parseInt(match.group(1)) : null;
    }
}
