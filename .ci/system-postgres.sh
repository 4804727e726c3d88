#!/usr/bin/env bash
# Start Debian's PostgreSQL 15 with pgvector built from Debian's source package, reachable over TCP with a
# password, so the integration tests also run against an older, packaged server than the embedded one.
# Prints the DATABASE_URL to use on its last line. Needs root (CI runs as root).
set -euo pipefail

PG_VERSION=15
PASSWORD=threadwise-ci
DATABASE=threadwise
work=$(mktemp -d)
chmod 755 "$work"  # apt downloads as its own user
trap 'rm -rf "$work"' EXIT

export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >&2
apt-get install -y -qq "postgresql-$PG_VERSION" "postgresql-server-dev-$PG_VERSION" dpkg-dev make gcc >&2

pg_config="/usr/lib/postgresql/$PG_VERSION/bin/pg_config"
if [ ! -f "$($pg_config --sharedir)/extension/vector.control" ]; then
  # Debian 12 packages no pgvector; Debian 13 does. Fetch its source through a private apt configuration so the
  # system's own source lists stay untouched, using the mirror this machine is already configured with.
  mirror=$(awk '/^URIs:/ { for (i = 2; i <= NF; i++) if ($i ~ /\/debian\/?$/) { print $i; exit } }' \
    /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
  if [ -z "$mirror" ]; then
    mirror=$(awk '$1 == "deb" && $2 !~ /security/ { print $2; exit }' /etc/apt/sources.list 2>/dev/null || true)
  fi
  [ -n "$mirror" ] || { echo "no Debian mirror configured in /etc/apt" >&2; exit 1; }
  mkdir -p "$work/lists/partial"
  echo "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror trixie main" > "$work/sources.list"
  apt_private=(-o "Dir::Etc::SourceList=$work/sources.list" -o "Dir::Etc::SourceParts=-" -o "Dir::State::Lists=$work/lists")
  apt-get "${apt_private[@]}" update -qq >&2
  (cd "$work" && apt-get "${apt_private[@]}" source -qq pgvector >&2)
  src=$(find "$work" -maxdepth 1 -type d -name 'pgvector-*' | head -n 1)
  make -s -C "$src" PG_CONFIG="$pg_config" >&2
  make -s -C "$src" install PG_CONFIG="$pg_config" >&2
fi

if ! pg_lsclusters -h | awk -v v="$PG_VERSION" '$1 == v && $2 == "main"' | grep -q .; then
  pg_createcluster "$PG_VERSION" main >&2
fi
pg_ctlcluster "$PG_VERSION" main start >&2 || pg_ctlcluster "$PG_VERSION" main status >&2
port=$(pg_lsclusters -h | awk -v v="$PG_VERSION" '$1 == v && $2 == "main" { print $3 }')

psql_admin() { su postgres -c "psql -p $port -v ON_ERROR_STOP=1 -qAt $*"; }
psql_admin "-c \"ALTER USER postgres PASSWORD '$PASSWORD'\"" >&2
if [ "$(psql_admin "-c \"SELECT 1 FROM pg_database WHERE datname = '$DATABASE'\"")" != "1" ]; then
  psql_admin "-c \"CREATE DATABASE $DATABASE\"" >&2
fi
psql_admin "-d $DATABASE -c \"CREATE EXTENSION IF NOT EXISTS vector\"" >&2
echo "pgvector $(psql_admin "-d $DATABASE -c \"SELECT extversion FROM pg_extension WHERE extname = 'vector'\"") on PostgreSQL $PG_VERSION, port $port" >&2

echo "postgresql+asyncpg://postgres:$PASSWORD@127.0.0.1:$port/$DATABASE"
