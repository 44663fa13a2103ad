"""Just enough SQL lexing to route a request the way ClickHouse's HTTP handler does.

The engine parses the SQL itself; this module only answers the questions the HTTP layer
must settle first: what kind of statement is it (read, write, SET, USE, INSERT with data),
which output FORMAT does it ask for, where does an INSERT's inline data start, and does the
text hold more than one statement (ClickHouse's HTTP interface refuses multi-statements;
chDB would silently run them all). Strings, quoted identifiers and comments are skipped so
a `;` or `FORMAT` inside them never counts. What counts as a string or a comment follows
ClickHouse's Lexer.cpp (`//` and nested `/* */` comments, `$tag$` heredocs, Unicode quotes):
the shop-owner checks read SETTINGS and INTO OUTFILE from these tokens, so a string that
ends earlier or later here than in the engine would hide a clause from them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from enum import Enum

from warehouse.server.errors import SYNTAX_ERROR, ClickHouseError

_WORD = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*")
_NUMBER_OR_OTHER = re.compile(r"[0-9][A-Za-z0-9_.]*|\S")
_WORD_CHAR = re.compile(r"[A-Za-z0-9_]")
_UNICODE_QUOTES = {"\u2018": "\u2019", "\u201c": "\u201d"}  # ‘string’ and “identifier”

# Statements allowed under readonly=1 (and, with SET/USE, under readonly=2).
_READ_KEYWORDS = frozenset(
    {"SELECT", "WITH", "SHOW", "DESC", "DESCRIBE", "EXISTS", "EXPLAIN", "CHECK", "VALUES"}
)
_RESULT_KEYWORDS = _READ_KEYWORDS | frozenset({"KILL"})


class StatementKind(Enum):
    """How the HTTP layer must treat a statement."""

    READ = "read"  # produces a result set, changes nothing
    INSERT_DATA = "insert_data"  # INSERT ... FORMAT X with data following in the request
    INSERT_QUERY = "insert_query"  # INSERT ... VALUES / INSERT ... SELECT: runs as plain SQL
    SET = "set"
    USE = "use"
    WRITE = "write"  # DDL, ALTER, SYSTEM, KILL ...: anything else


@dataclass(frozen=True)
class Token:
    """A lexed token: a bare word (keyword or identifier) or any other piece of SQL."""

    text: str
    start: int
    end: int
    is_word: bool


def tokens(sql: str, start: int = 0) -> Iterator[Token]:
    """Yield tokens lazily, skipping whitespace, comments and the inside of quoted text.

    Lazy so that INSERT routing can stop at the FORMAT name before reaching binary data.
    """
    position = start
    length = len(sql)
    while position < length:
        char = sql[position]
        if char.isspace():
            position += 1
        elif sql.startswith(("--", "//", "# ", "#!"), position):
            newline = sql.find("\n", position)
            position = length if newline < 0 else newline + 1
        elif sql.startswith("/*", position):
            position = _comment_end(sql, position)
        elif char in "'\"`":
            end = _quoted_end(sql, position, char)
            yield Token(sql[position:end], position, end, is_word=False)
            position = end
        elif char in _UNICODE_QUOTES:  # no escapes inside, as in the engine
            close = sql.find(_UNICODE_QUOTES[char], position + 1)
            end = length if close < 0 else close + 1
            yield Token(sql[position:end], position, end, is_word=False)
            position = end
        elif char == "$" and (heredoc_end := _heredoc_end(sql, position)) is not None:
            yield Token(sql[position:heredoc_end], position, heredoc_end, is_word=False)
            position = heredoc_end
        elif char == "$" and not _WORD_CHAR.match(sql, position + 1):
            yield Token("$", position, position + 1, is_word=False)
            position += 1
        else:
            match = _WORD.match(sql, position) or _NUMBER_OR_OTHER.match(sql, position)
            assert match is not None  # \S always matches a non-space character
            yield Token(match.group(), position, match.end(), is_word=match.re is _WORD)
            position = match.end()


def _comment_end(sql: str, start: int) -> int:
    """Index just past a `/* ... */` comment; they nest, as in the SQL standard."""
    position = start + 2
    depth = 1
    while position + 2 <= len(sql):
        if sql.startswith("/*", position):
            depth += 1
            position += 2
        elif sql.startswith("*/", position):
            depth -= 1
            position += 2
            if depth == 0:
                return position
        else:
            position += 1
    return len(sql)


def _heredoc_end(sql: str, start: int) -> int | None:
    """Index just past a `$tag$ ... $tag$` string starting at `start`, if there is one."""
    tag_end = sql.find("$", start + 1)
    if tag_end < 0:
        return None
    tag = sql[start : tag_end + 1]
    close = sql.find(tag, tag_end + 1)
    return None if close < 0 else close + len(tag)


def _quoted_end(sql: str, start: int, quote: str) -> int:
    """Index just past the closing quote (backslash escapes and doubled quotes allowed)."""
    position = start + 1
    while position < len(sql):
        char = sql[position]
        if char == "\\":
            position += 2
            continue
        if char == quote:
            if sql.startswith(quote * 2, position):
                position += 2
                continue
            return position + 1
        position += 1
    return len(sql)


def first_keyword(sql: str) -> str:
    """The statement's leading keyword, upper-cased ('' for empty text); `(SELECT` is SELECT."""
    for token in tokens(sql):
        if token.text == "(":
            continue
        return token.text.upper() if token.is_word else token.text
    return ""


def classify(sql: str) -> StatementKind:
    """Decide how a complete statement (not an INSERT with data) is routed.

    `WITH ... INSERT INTO t SELECT ...` is an INSERT: the WITH clause only names values.
    """
    keyword = first_keyword(sql)
    if keyword == "WITH":
        stream = tokens(sql)
        next(stream)  # the WITH itself
        if _after_with_clause(stream) is not None:
            return StatementKind.INSERT_QUERY
    if keyword in _READ_KEYWORDS:
        return StatementKind.READ
    if keyword == "SET":
        return StatementKind.SET
    if keyword == "USE":
        return StatementKind.USE
    if keyword == "INSERT":
        return StatementKind.INSERT_QUERY
    return StatementKind.WRITE


def is_select(sql: str) -> bool:
    """A SELECT (possibly `WITH ...` or bracketed): the reads whose result can be streamed."""
    return first_keyword(sql) in ("SELECT", "WITH")


def produces_result(sql: str) -> bool:
    """Whether the statement answers with a result set (sets X-ClickHouse-Format)."""
    return first_keyword(sql) in _RESULT_KEYWORDS


def require_single_statement(sql: str) -> str:
    """Strip one trailing `;`, refuse any statement after it, as ClickHouse's HTTP does."""
    all_tokens = list(tokens(sql))
    semicolons = [index for index, token in enumerate(all_tokens) if token.text == ";"]
    if not semicolons:
        return sql
    first = semicolons[0]
    position = all_tokens[first].start
    if any(token.text != ";" for token in all_tokens[first:]):
        raise ClickHouseError.of(
            SYNTAX_ERROR,
            "Syntax error (Multi-statements are not allowed): failed at position "
            f"{position + 1} (end of query): {sql[position : position + 40]!r}",
        )
    return sql[: all_tokens[first].start]


def _format_clause(sql: str) -> tuple[Token, Token] | None:
    """The `FORMAT` and name tokens of a trailing `FORMAT <name>` clause, if any."""
    all_tokens = [token for token in tokens(sql) if token.text != ";"]
    if len(all_tokens) >= 2 and all_tokens[-2].is_word and all_tokens[-2].text.upper() == "FORMAT":
        if all_tokens[-1].is_word:
            return all_tokens[-2], all_tokens[-1]
    return None


def output_format(sql: str) -> str | None:
    """The name in a trailing `FORMAT <name>` clause, if the statement has one."""
    clause = _format_clause(sql)
    return clause[1].text if clause else None


def without_output_format(sql: str) -> str:
    """The statement without its trailing `FORMAT <name>` clause (unchanged if it has none)."""
    clause = _format_clause(sql)
    return sql[: clause[0].start] if clause else sql


@dataclass(frozen=True)
class InsertHead:
    """An INSERT whose rows follow in the request: `head` goes to the engine, data is streamed."""

    head: str  # `INSERT INTO t (a, b) SETTINGS ...` without the FORMAT clause
    input_format: str
    data_offset: int  # where the data starts in the text the head was found in


def find_insert_head(text: str) -> InsertHead | None:
    """Split `INSERT ... FORMAT X<data>` the way ClickHouse's parser does.

    `text` is the start of the request (URL query + newline + body prefix) decoded as
    latin-1 so byte offsets equal character offsets. Returns None for an INSERT without a
    FORMAT clause (VALUES, SELECT), which the engine runs as ordinary SQL. Data starts after
    the format name, spaces/tabs, and at most one line break, exactly as in ClickHouse.
    """
    stream = tokens(text)
    first = next(stream, None)
    if first is not None and first.is_word and first.text.upper() == "WITH":
        first = _after_with_clause(stream)
    if first is None or first.text.upper() != "INSERT":
        return None
    previous: Token | None = None
    for token in stream:
        upper = token.text.upper()
        if (
            token.is_word
            and upper in ("SELECT", "WITH", "VALUES")
            and previous is not None
            and previous.text != "="
        ):
            return None
        if (
            previous is not None
            and previous.is_word
            and previous.text.upper() == "FORMAT"
            and token.is_word
        ):
            return InsertHead(
                text[: previous.start].rstrip(), token.text, _data_start(text, token.end)
            )
        previous = token
    return None


def _after_with_clause(stream: Iterator[Token]) -> Token | None:
    """Consume a leading `WITH ...` clause up to its INSERT; None if another statement follows.

    Brackets are skipped whole, so `{SELECT:Int32}` or `(SELECT 1)` inside it never counts.
    """
    depth = 0
    for token in stream:
        if token.text in ("(", "[", "{"):
            depth += 1
        elif token.text in (")", "]", "}"):
            depth -= 1
        elif depth == 0 and token.is_word:
            word = token.text.upper()
            if word == "INSERT":
                after = next(stream, None)  # `WITH 13 AS insert SELECT insert` names a value
                if after is not None and after.is_word and after.text.upper() == "INTO":
                    return token
            elif word in ("SELECT", "WITH"):  # a WITH ... SELECT (or a nested WITH)
                return None
    return None


def _data_start(text: str, position: int) -> int:
    while position < len(text) and text[position] in " \t\f":
        position += 1
    if text.startswith("\r\n", position):
        return position + 2
    if position < len(text) and text[position] == "\n":
        return position + 1
    return position


def into_outfile_start(sql: str) -> int | None:
    """Where the statement's `INTO OUTFILE` clause starts, if it has one anywhere.

    ClickHouse's HTTP interface never writes that file (the clause is clickhouse-client's);
    chDB would write it on this host. Token level, so `'INTO OUTFILE'` in a string or a
    comment between the words changes nothing; `INSERT INTO outfile` names a table.
    """
    previous: Token | None = None
    into: Token | None = None
    for token in tokens(sql):
        word = token.text.upper() if token.is_word else ""
        if into is not None and word == "OUTFILE":
            return into.start
        after_insert = previous is not None and previous.text.upper() == "INSERT"
        into = token if word == "INTO" and not after_insert else None
        previous = token
    return None


def identifier_name(token: Token) -> str | None:
    """The name a bare or quoted identifier token stands for; None if it uses escapes.

    Escapes (`\\x74`) are left to the engine: callers that must know the name refuse them.
    """
    if token.is_word:
        return token.text
    if token.text[:1] == "\u201c" and token.text.endswith("\u201d") and len(token.text) > 1:
        return token.text[1:-1]
    quote = token.text[:1]
    if quote not in ('"', "`") or len(token.text) < 2 or not token.text.endswith(quote):
        return None
    inner = token.text[1:-1]
    return None if "\\" in inner else inner.replace(quote * 2, quote)


_SETTINGS_CLAUSE_ENDS = frozenset(
    {"SELECT", "FROM", "WHERE", "FORMAT", "INTO", "UNION", "EXCEPT", "INTERSECT"}
)


def settings_clause_names(sql: str) -> list[str | None]:
    """The names `SETTINGS name = value, ...` clauses set (None: a name written with escapes).

    Names may be quoted (`"additional_table_filters" = {}` works as well as the bare word).
    A clause runs from SETTINGS to the bracket that closes its subquery or the next clause.
    """
    all_tokens = list(tokens(sql))
    names: list[str | None] = []
    depth = 0
    clause_depth: int | None = None
    for index, token in enumerate(all_tokens):
        upper = token.text.upper() if token.is_word else token.text
        if upper in ("(", "[", "{"):
            depth += 1
        elif upper in (")", "]", "}"):
            depth -= 1
            if clause_depth is not None and depth < clause_depth:
                clause_depth = None
        elif upper == "SETTINGS":
            clause_depth = depth
        elif upper in _SETTINGS_CLAUSE_ENDS and clause_depth == depth:
            clause_depth = None
        if clause_depth != depth or index == 0 or index + 1 >= len(all_tokens):
            continue
        opens_pair = all_tokens[index - 1].text.upper() in ("SETTINGS", ",")
        if opens_pair and all_tokens[index + 1].text == "=" and upper != "SETTINGS":
            names.append(identifier_name(token))
    return names


def quote_string(value: str) -> str:
    """A ClickHouse single-quoted string literal."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def quote_identifier(name: str) -> str:
    """A back-quoted ClickHouse identifier."""
    return "`" + name.replace("\\", "\\\\").replace("`", "\\`") + "`"


_SETTING_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def is_setting_name(name: str) -> bool:
    """Whether `name` can be spliced into a SET statement as a bare identifier."""
    return bool(_SETTING_NAME.match(name))
