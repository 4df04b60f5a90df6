#!/usr/bin/env bash
# The PostgreSQL server that tests/test_app.py runs the App's multi-machine queue on: install it from
# Debian's packages when it is missing, start the cluster, and create the test role and database.
# Idempotent; run as root (CI and the developers' machines are). Prints the URL the tests read as
# LGTM575_TEST_DATABASE_URL.
set -euo pipefail
if ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >/dev/null
    apt-get install -y -q postgresql >/dev/null
fi
if ! pg_lsclusters -h | grep -q .; then
    version=$(ls /usr/lib/postgresql | sort -n | tail -1)
    pg_createcluster "$version" main >/dev/null
fi
read -r version cluster port status _ < <(pg_lsclusters -h | head -1)
if [ "$status" != "online" ]; then
    pg_ctlcluster "$version" "$cluster" start
fi
for _ in $(seq 1 30); do
    pg_isready -q -h 127.0.0.1 -p "$port" && break
    sleep 0.5
done
as_postgres() { runuser -u postgres -- "$@"; }
as_postgres psql -q -p "$port" -tAc "SELECT 1 FROM pg_roles WHERE rolname='lgtm575'" | grep -q 1 \
    || as_postgres psql -q -p "$port" -c "CREATE ROLE lgtm575 LOGIN PASSWORD 'lgtm575'"
as_postgres psql -q -p "$port" -tAc "SELECT 1 FROM pg_database WHERE datname='lgtm575_test'" | grep -q 1 \
    || as_postgres createdb -p "$port" -O lgtm575 lgtm575_test
echo "postgresql://lgtm575:lgtm575@127.0.0.1:$port/lgtm575_test"
