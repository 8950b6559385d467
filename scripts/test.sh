#!/usr/bin/env bash
# Run the whole test suite with the real parts it needs: Debian's chromium for the browser test and a
# throw-away PostgreSQL server for the store tests. Both are installed when missing and we are root;
# otherwise those tests are skipped with the reason.
set -euo pipefail
PY=${1:-.venv/bin/python}

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  missing=()
  [ -x /usr/bin/chromium ] || missing+=(chromium)
  ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
  if [ ${#missing[@]} -gt 0 ]; then
    echo "installing ${missing[*]} for the browser and PostgreSQL tests"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null \
      || echo "could not install ${missing[*]}: those tests will be skipped"
  fi
fi

pg_dir=""
as_postgres() { (cd / && runuser -u postgres -- "$@"); }  # postgres may not enter the checkout
cleanup() {
  if [ -n "$pg_dir" ]; then
    as_postgres "$pg_bin/pg_ctl" -D "$pg_dir" -m fast stop >/dev/null 2>&1 || true
    rm -rf "$pg_dir"
  fi
}
trap cleanup EXIT
pg_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
if [ -z "${MODERATION_TEST_POSTGRES_URL:-}" ] && [ -n "$pg_bin" ] && [ "$(id -u)" = 0 ]; then
  pg_dir=$(mktemp -d /tmp/moderation-pg.XXXXXX)
  chown postgres "$pg_dir"
  port=${MODERATION_TEST_POSTGRES_PORT:-5433}
  if as_postgres "$pg_bin/initdb" -D "$pg_dir" -A trust >/dev/null \
     && as_postgres "$pg_bin/pg_ctl" -w -D "$pg_dir" -l "$pg_dir/log" \
          -o "-c listen_addresses=127.0.0.1 -p $port -k $pg_dir" start >/dev/null; then
    export MODERATION_TEST_POSTGRES_URL="postgresql+psycopg://postgres@127.0.0.1:$port/postgres"
  else
    echo "could not start PostgreSQL: the PostgreSQL tests will be skipped"
  fi
fi

"$PY" -m pytest -q
