#!/usr/bin/env bash
# Runs the official clickhouse-connect integration tests against this project's warehouse
# server, the way issue 12 measured it: a fresh data path, a scratch database per run.
#
#   benchmarks/official_client_suite.sh /path/to/clickhouse-connect-checkout [pytest args]
#
# The checkout is the client's public repository (tests at commit 842e4131 = release 1.12.0);
# its tests are never copied into this repository. Its own `clickhouse_connect` package
# folder is hidden so the installed release is what runs. Everything it installs or writes
# lives under .cache/official-suite (git-ignored). Prints pytest's summary line at the end.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CHECKOUT="${1:?usage: $0 CLICKHOUSE_CONNECT_CHECKOUT [pytest args]}"
shift
WORK="$ROOT/.cache/official-suite"
VENV="$WORK/venv"
PORT="${OFFICIAL_SUITE_PORT:-18123}"
mkdir -p "$WORK"
"$ROOT/scripts/bootstrap.sh" >/dev/null
if [ ! -x "$VENV/bin/pytest" ]; then
  python3.11 -m venv "$VENV"
  "$VENV/bin/pip" install -q clickhouse-connect==1.12.0 'urllib3>=1.26' aiohttp \
    'sqlalchemy>=2.0,<3.0' 'alembic>=1.18' pytest pytest-asyncio pytest-mock \
    pytest-dotenv pytest-xdist 'numpy~=1.26.0' 'pandas>=2.0,<4.0' 'polars>=1.0' \
    'backports.zstd>=1.3.0' lz4 'pyarrow<22' 'pyjwt[crypto]==2.10.1'
fi
# A copy of the tests beside an empty package folder name, so `import clickhouse_connect`
# finds the installed wheel rather than the checkout's uncompiled sources.
rm -rf "$WORK/tests-run"
mkdir -p "$WORK/tests-run"
cp -r "$CHECKOUT/tests" "$CHECKOUT/pyproject.toml" "$WORK/tests-run/"
DATA="$WORK/data"
rm -rf "$DATA"
"$ROOT/.cache/venvs/core/bin/python" -m warehouse.server --port "$PORT" --data-path "$DATA" \
  --log-file "$WORK/server.log" &
SERVER=$!
trap 'kill "$SERVER" 2>/dev/null; wait "$SERVER" 2>/dev/null || true' EXIT
for _ in $(seq 1 600); do
  if curl -sf "http://127.0.0.1:$PORT/ping" >/dev/null; then break; fi
  if ! kill -0 "$SERVER" 2>/dev/null; then echo "server did not start; see $WORK/server.log" >&2; exit 1; fi
  sleep 0.1
done
cd "$WORK/tests-run"
set +e
CLICKHOUSE_CONNECT_TEST_PORT="$PORT" "$VENV/bin/python" -m pytest tests/integration_tests \
  -p no:cacheprovider -o addopts="" -q -rfE "$@"
status=$?
set -e
exit "$status"
