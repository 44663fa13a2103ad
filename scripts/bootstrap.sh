#!/usr/bin/env bash
# Idempotent setup of everything the single-machine stack needs, into git-ignored folders:
#   .cache/tools         uv (the installer used for the virtualenvs)
#   .cache/venvs/core    the project, connectors, ClickHouse engine (chDB), tests
#   .cache/venvs/flink   PyFlink (its pins conflict with Superset's, so it lives alone)
#   .cache/venvs/superset  Superset with pinned constraints
#   .cache/jars/kafka    Apache Kafka broker jars (Maven, build/kafka/pom.xml)
#   .cache/jars/flink    Flink Kafka SQL connector (Maven, build/flink/pom.xml)
#   .cache/jars/flink-sink  the project's ClickHouse sink for Flink, built from
#                        flink_jobs/clickhouse-sink with Maven
# Each step is skipped when a stamp records that its inputs have not changed.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${ERPBI_PATHS__CACHE_DIR:-$ROOT/.cache}"
STAMPS="$CACHE/stamps"
mkdir -p "$STAMPS" "$CACHE/venvs" "$CACHE/jars"
PYTHON="${PYTHON:-python3.11}"
command -v "$PYTHON" >/dev/null || PYTHON=python3

say() { echo "[bootstrap] $*"; }

fingerprint() { cat "$@" | sha256sum | cut -c1-16; }

up_to_date() {  # name, fingerprint
  [ -f "$STAMPS/$1" ] && [ "$(cat "$STAMPS/$1")" = "$2" ]
}

ensure_system_packages() {
  local missing=()
  command -v java >/dev/null || missing+=(openjdk-17-jre-headless)
  command -v mvn >/dev/null || missing+=(maven)
  # The browser tests and screen checks: Debian's Chromium with its matching driver, and
  # CJK fonts so Chinese labels render as text, not boxes.
  command -v chromium >/dev/null || missing+=(chromium)
  command -v chromedriver >/dev/null || missing+=(chromium-driver)
  [ -d /usr/share/fonts/opentype/noto ] || missing+=(fonts-noto-cjk)
  # Monitoring (issue 15): Debian's Prometheus and Alertmanager, with promtool and amtool.
  command -v prometheus >/dev/null || missing+=(prometheus)
  command -v prometheus-alertmanager >/dev/null || missing+=(prometheus-alertmanager)
  if [ ${#missing[@]} -gt 0 ]; then
    say "installing Debian packages: ${missing[*]}"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
  fi
}

ensure_uv() {
  UV="$CACHE/tools/bin/uv"
  if [ ! -x "$UV" ]; then
    say "installing uv into $CACHE/tools"
    "$PYTHON" -m venv "$CACHE/tools"
    "$CACHE/tools/bin/pip" install -q "uv==0.13.9"
  fi
}

ensure_venv() {  # name, requirements file, extra install args...
  local name="$1" requirements="$2"; shift 2
  local venv="$CACHE/venvs/$name"
  local print; print="$(fingerprint "$requirements" "$ROOT/pyproject.toml")"
  if [ -x "$venv/bin/python" ] && up_to_date "venv-$name" "$print"; then
    return
  fi
  say "virtualenv $name (from $(basename "$requirements"))"
  [ -x "$venv/bin/python" ] || "$UV" venv -q -p "$PYTHON" "$venv"
  VIRTUAL_ENV="$venv" "$UV" pip install -q -r "$requirements"
  if [ $# -gt 0 ]; then VIRTUAL_ENV="$venv" "$UV" pip install -q "$@"; fi
  echo "$print" > "$STAMPS/venv-$name"
}

ensure_jars() {  # name
  local name="$1" pom="$ROOT/build/$1/pom.xml" target="$CACHE/jars/$1"
  local print; print="$(fingerprint "$pom")"
  if up_to_date "jars-$name" "$print" && [ -n "$(ls -A "$target" 2>/dev/null)" ]; then
    return
  fi
  say "fetching $name jars with Maven"
  rm -rf "$target"
  mvn -q -B -f "$pom" dependency:copy-dependencies -DoutputDirectory="$target"
  echo "$print" > "$STAMPS/jars-$name"
}

ensure_sink_jar() {
  local project="$ROOT/flink_jobs/clickhouse-sink" target="$CACHE/jars/flink-sink"
  local print; print="$(find "$project/pom.xml" "$project/src" -type f | sort | xargs cat | sha256sum | cut -c1-16)"
  if up_to_date "jar-flink-sink" "$print" && [ -f "$target/erpbi-flink-clickhouse-sink.jar" ]; then
    return
  fi
  say "building the Flink ClickHouse sink with Maven"
  mvn -q -B -f "$project/pom.xml" package -Derpbi.build.dir="$CACHE/build/clickhouse-sink"
  mkdir -p "$target"
  cp "$CACHE/build/clickhouse-sink/erpbi-flink-clickhouse-sink.jar" "$target/"
  echo "$print" > "$STAMPS/jar-flink-sink"
}

ensure_system_packages
ensure_uv
ensure_venv core "$ROOT/requirements/core.txt" --no-deps -e "$ROOT"
ensure_venv flink "$ROOT/requirements/flink.txt" --no-deps -e "$ROOT"
ensure_venv superset "$ROOT/requirements/superset.txt"
ensure_jars kafka
ensure_jars flink
ensure_sink_jar
say "ready (cache: $CACHE)"
