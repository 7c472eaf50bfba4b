#!/usr/bin/env bash
# Install (Debian's postgresql), start and prepare a PostgreSQL server for tre's tests; idempotent.
# Prints the SQLAlchemy URL on stdout; everything else goes to stderr.
#   TRE_PG_PORT (default 54329), TRE_PG_PASSWORD (default: generated once per machine into
#   /var/lib/postgresql/tre-test-password, so every checkout on this machine shares the server)
set -euo pipefail
cd "$(dirname "$0")/.."
port="${TRE_PG_PORT:-54329}"
log() { echo "postgres.sh: $*" >&2; }

if ! command -v pg_ctlcluster >/dev/null 2>&1 || ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
  log "installing PostgreSQL from Debian's packages"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2 || { log "apt-get update failed: check the apt mirror"; exit 1; }
  apt-get install -y -qq postgresql >&2
fi
version="$(ls /usr/lib/postgresql | sort -V | tail -1)"
cluster=tre
if ! pg_lsclusters -h | awk '{print $1" "$2}' | grep -qx "$version $cluster"; then
  log "creating cluster $version/$cluster on port $port"
  pg_createcluster "$version" "$cluster" --port "$port" >&2
fi
if ! pg_lsclusters -h | awk -v c="$cluster" '$2==c {print $4}' | grep -q online; then
  pg_ctlcluster "$version" "$cluster" start >&2
fi
port="$(pg_lsclusters -h | awk -v c="$cluster" '$2==c {print $3}')"
secret=/var/lib/postgresql/tre-test-password
if [ ! -s "$secret" ]; then
  (umask 077; head -c 18 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' > "$secret")
fi
password="${TRE_PG_PASSWORD:-$(cat "$secret")}"
for _ in $(seq 1 50); do
  su postgres -c "psql -p $port -Atqc 'select 1'" >/dev/null 2>&1 && break
  sleep 0.2
done
su postgres -c "psql -p $port -v ON_ERROR_STOP=1 -q" >&2 <<SQL
DO \$\$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'tre') THEN
    CREATE ROLE tre LOGIN CREATEDB PASSWORD '$password';
  ELSE
    ALTER ROLE tre LOGIN CREATEDB PASSWORD '$password';
  END IF;
END \$\$;
-- tests drop their databases WITH (FORCE), which ends any session still connected
GRANT pg_signal_backend TO tre;
SQL
if ! su postgres -c "psql -p $port -Atqc \"select 1 from pg_database where datname='tre'\"" | grep -q 1; then
  su postgres -c "createdb -p $port -O tre tre" >&2
fi
echo "postgresql+psycopg://tre:${password}@127.0.0.1:${port}/tre"
