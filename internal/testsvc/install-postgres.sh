#!/usr/bin/env bash
# Installs Debian's PostgreSQL 15 server for the tests of the distributed
# mode, if missing. The tests run throw-away clusters of their own
# (testsvc.StartPostgres: initdb into a temporary directory, a server on
# 127.0.0.1 stopped by its process id), so the package must not create and
# start a cluster of its own: pg_createcluster (postgresql-common) reads
# that from createcluster.d, which is not a file of any package.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=${AUDEX_PG_BIN:-/usr/lib/postgresql/15/bin}
[ -x "$bin/postgres" ] && command -v psql >/dev/null 2>&1 && exit 0
conf=/etc/postgresql-common/createcluster.d/audex-tests.conf
if [ ! -e "$conf" ] && [ "$(id -u)" = 0 ]; then
	mkdir -p "$(dirname "$conf")"
	echo "create_main_cluster = false" >"$conf"
fi
"$here/install-debs.sh" "the PostgreSQL tests" "$bin/postgres=postgresql-15" psql=postgresql-client-15
