"""ClickHouse-shaped errors: the code, the body text and the HTTP status a real server sends.

Clients (clickhouse-connect, the SQLAlchemy dialect, the Flink sink) decide what to do from
the `X-ClickHouse-Exception-Code` header and the `Code: N. DB::Exception: ... (NAME)` body,
so every failure this server reports goes through `ClickHouseError` and `http_status_for`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Error codes this server raises itself (numbers and names as in ClickHouse's ErrorCodes.cpp).
UNKNOWN_EXCEPTION = (1002, "UNKNOWN_EXCEPTION")
BAD_ARGUMENTS = (36, "BAD_ARGUMENTS")
NOT_IMPLEMENTED = (48, "NOT_IMPLEMENTED")
SYNTAX_ERROR = (62, "SYNTAX_ERROR")
UNKNOWN_FORMAT = (73, "UNKNOWN_FORMAT")
CANNOT_DECOMPRESS = (271, "CANNOT_DECOMPRESS")
UNKNOWN_COMPRESSION_METHOD = (89, "UNKNOWN_COMPRESSION_METHOD")
READONLY = (164, "READONLY")
SESSION_NOT_FOUND = (372, "SESSION_NOT_FOUND")
SESSION_IS_LOCKED = (373, "SESSION_IS_LOCKED")
INVALID_SESSION_TIMEOUT = (374, "INVALID_SESSION_TIMEOUT")
HTTP_LENGTH_REQUIRED = (381, "HTTP_LENGTH_REQUIRED")
UNKNOWN_TYPE_OF_QUERY = (78, "UNKNOWN_TYPE_OF_QUERY")
AUTHENTICATION_FAILED = (516, "AUTHENTICATION_FAILED")
ACCESS_DENIED = (497, "ACCESS_DENIED")
INTO_OUTFILE_NOT_ALLOWED = (358, "INTO_OUTFILE_NOT_ALLOWED")
QUERY_IS_TOO_LARGE = (229, "QUERY_IS_TOO_LARGE")
QUERY_WAS_CANCELLED = (394, "QUERY_WAS_CANCELLED")

# Error name -> HTTP status, the same table ClickHouse's exceptionCodeToHTTPStatus uses;
# keyed by name because chDB's text always carries the name. Anything unlisted is a 500.
_STATUS_BY_NAME: dict[str, int] = {
    "REQUIRED_PASSWORD": 401,
    **dict.fromkeys(
        (
            "UNKNOWN_USER",
            "WRONG_PASSWORD",
            "AUTHENTICATION_FAILED",
            "SET_NON_GRANTED_ROLE",
            "ACCESS_DENIED",
        ),
        403,
    ),
    **dict.fromkeys(
        (
            "BAD_ARGUMENTS",
            "CANNOT_COMPILE_REGEXP",
            "CANNOT_PARSE_TEXT",
            "CANNOT_PARSE_ESCAPE_SEQUENCE",
            "CANNOT_PARSE_QUOTED_STRING",
            "CANNOT_PARSE_DATE",
            "CANNOT_PARSE_DATETIME",
            "CANNOT_PARSE_NUMBER",
            "CANNOT_PARSE_DOMAIN_VALUE_FROM_STRING",
            "CANNOT_PARSE_IPV4",
            "CANNOT_PARSE_IPV6",
            "CANNOT_PARSE_INPUT_ASSERTION_FAILED",
            "CANNOT_PARSE_UUID",
            "DUPLICATE_COLUMN",
            "ILLEGAL_COLUMN",
            "UNKNOWN_ELEMENT_IN_AST",
            "UNKNOWN_TYPE_OF_AST_NODE",
            "THERE_IS_NO_COLUMN",
            "TOO_DEEP_AST",
            "TOO_BIG_AST",
            "UNEXPECTED_AST_STRUCTURE",
            "SYNTAX_ERROR",
            "INCORRECT_DATA",
            "TYPE_MISMATCH",
            "VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE",
        ),
        400,
    ),
    **dict.fromkeys(
        (
            "UNKNOWN_TABLE",
            "UNKNOWN_FUNCTION",
            "UNKNOWN_IDENTIFIER",
            "UNKNOWN_TYPE",
            "UNKNOWN_STORAGE",
            "UNKNOWN_DATABASE",
            "UNKNOWN_SETTING",
            "UNKNOWN_DIRECTION_OF_SORTING",
            "UNKNOWN_AGGREGATE_FUNCTION",
            "UNKNOWN_FORMAT",
            "UNKNOWN_DATABASE_ENGINE",
            "UNKNOWN_TYPE_OF_QUERY",
            "UNKNOWN_ROLE",
        ),
        404,
    ),
    "QUERY_IS_TOO_LARGE": 413,
    "NOT_IMPLEMENTED": 501,
    "SOCKET_TIMEOUT": 503,
    "CANNOT_OPEN_FILE": 503,
    "HTTP_LENGTH_REQUIRED": 411,
    "TIMEOUT_EXCEEDED": 408,
    "CANNOT_SCHEDULE_TASK": 503,
    "UNSUPPORTED_MEDIA_TYPE": 415,
}

_CODE_PATTERN = re.compile(r"Code:\s*(\d+)\.")
_NAME_PATTERN = re.compile(r"\(([A-Z][A-Z0-9_]+)\)\s*(?:\(version [^)]*\))?\s*$")


@dataclass
class ClickHouseError(Exception):
    """A failure reported to the client exactly as ClickHouse would report it."""

    code: int
    name: str
    message: str

    @classmethod
    def of(cls, code_and_name: tuple[int, str], message: str) -> ClickHouseError:
        """Build from one of the (code, name) constants above."""
        return cls(code_and_name[0], code_and_name[1], message)

    @classmethod
    def from_engine_text(cls, text: str) -> ClickHouseError:
        """Parse chDB's exception text (`Code: 60. DB::Exception: ... (UNKNOWN_TABLE)`).

        chDB raises a plain ChdbError/RuntimeError; the code and name live only in the text.
        Text without a code becomes UNKNOWN_EXCEPTION so the client still gets a code header.
        """
        text = text.strip()
        for prefix in ("Streaming insert append failed: ", "Streaming insert finish failed: "):
            text = text.removeprefix(prefix)
        code_match = _CODE_PATTERN.search(text)
        if code_match is None:
            return cls.of(UNKNOWN_EXCEPTION, text or "Unknown error in the ClickHouse engine")
        name_match = _NAME_PATTERN.search(text)
        name = name_match.group(1) if name_match else "UNKNOWN_EXCEPTION"
        message = text[code_match.start() :]
        message = re.sub(r"^Code:\s*\d+\.\s*(DB::Exception:\s*)?", "", message)
        message = _NAME_PATTERN.sub("", message).rstrip().removesuffix(".")
        return cls(int(code_match.group(1)), name, message)

    @property
    def http_status(self) -> int:
        """The status ClickHouse would answer with for this code."""
        return http_status_for(self.name)

    def body(self, version: str) -> bytes:
        """The response body, byte-compatible with a ClickHouse server's exception text.

        A name the client sent in bytes that are not UTF-8 (kept as surrogate escapes) goes
        back as those bytes.
        """
        text = (
            f"Code: {self.code}. DB::Exception: {self.message}. ({self.name}) (version {version})\n"
        )
        return text.encode("utf-8", "surrogateescape")

    def __str__(self) -> str:
        return f"Code: {self.code}. {self.message} ({self.name})"


def http_status_for(name: str) -> int:
    """Map an error name to an HTTP status using ClickHouse's table (500 when unlisted)."""
    return _STATUS_BY_NAME.get(name, 500)
