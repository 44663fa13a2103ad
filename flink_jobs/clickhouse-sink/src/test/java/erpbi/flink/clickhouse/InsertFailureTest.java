package erpbi.flink.clickhouse;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.ConnectException;

import org.junit.jupiter.api.Test;

class InsertFailureTest {

    private static InsertFailure.Kind kind(int status, String header, String body) {
        return InsertFailure.answered(status, header, body).kind();
    }

    @Test
    void rowsClickHouseCannotHoldAreContentWhateverTheStatus() {
        assertEquals(InsertFailure.Kind.CONTENT, kind(400, "72", "Code: 72. Unsigned type must not contain '-'"));
        // a decimal past its precision is code 69 with status 500 on a real server
        assertEquals(InsertFailure.Kind.CONTENT, kind(500, "69", "Code: 69. Decimal value is too big"));
        assertEquals(InsertFailure.Kind.CONTENT, kind(500, null, "Code: 41. DB::Exception: Cannot read DateTime"));
        assertEquals(InsertFailure.Kind.CONTENT, kind(400, null, "Code: 117. Unknown field found: x"));
    }

    @Test
    void failuresThatCanPassAreRetried() {
        assertEquals(InsertFailure.Kind.RETRIABLE, kind(500, "252", "Code: 252. Too many parts"));
        assertEquals(InsertFailure.Kind.RETRIABLE, kind(503, null, "Service Unavailable"));
        assertEquals(InsertFailure.Kind.RETRIABLE, kind(404, "60", "Code: 60. Unknown table"));
        assertEquals(InsertFailure.Kind.RETRIABLE, kind(403, "516", "Code: 516. Authentication failed"));
        assertEquals(InsertFailure.Kind.RETRIABLE, kind(500, null, ""));
        assertEquals(InsertFailure.Kind.RETRIABLE, InsertFailure.unreachable(new ConnectException("refused")).kind());
    }

    @Test
    void anotherBadRequestIsAboutTheRows() {
        assertEquals(InsertFailure.Kind.CONTENT, kind(400, null, "Code: 27. Cannot parse input"));
        assertEquals(InsertFailure.Kind.CONTENT, kind(400, "not-a-number", "bad request"));
    }

    @Test
    void theMessageCarriesClickHousesText() {
        String message = InsertFailure.answered(400, "72", "Code: 72. Unsigned type must not contain '-' symbol\n")
                .getMessage();
        assertTrue(message.startsWith("HTTP 400: Code: 72. Unsigned type"), message);
    }
}
