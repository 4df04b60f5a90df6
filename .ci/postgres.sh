#!/usr/bin/env bash
# The PostgreSQL server that tests/test_app.py runs the App's multi-machine queue on: install it from
# Debian's packages when it is missing, start the cluster, and create the test role and database.
# Idempotent; run as root (CI and the developers' machines are). Prints the URL the tests read as
# LGTM575_TEST_DATABASE_URL.
set -euo pipefail
exec 3>&1 1>&2  # everything but the URL goes to stderr
if ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
    export DEBIAN_FRONTEND=noninteractive
    log=$(mktemp)
    # the package may start the server itself: it must not inherit this script's output (above)
    { apt-get update -q && apt-get install -y -q postgresql; } </dev/null >"$log" 2>&1 3>&- || {
        echo "installing PostgreSQL failed:"; tail -n 20 "$log"; exit 1
    }
fi
if ! pg_lsclusters -h | grep -q .; then
    version=$(ls /usr/lib/postgresql | sort -n | tail -1)
    pg_createcluster "$version" main </dev/null >/dev/null 2>&1 3>&-
fi
read -r version cluster port status _ < <(pg_lsclusters -h | head -1)
if [ "$status" != "online" ]; then
    # the server must not inherit this script's stdout or stderr: a caller reading them would
    # wait for the server to exit
    pg_ctlcluster "$version" "$cluster" start </dev/null >/dev/null 2>&1 3>&- || {
        echo "PostgreSQL $version/$cluster did not start:"; tail -n 20 "/var/log/postgresql/postgresql-$version-$cluster.log"
        exit 1
    }
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
echo "postgresql://lgtm575:lgtm575@127.0.0.1:$port/lgtm575_test" >&3
