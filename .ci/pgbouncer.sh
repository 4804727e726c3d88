#!/usr/bin/env bash
# Start Debian's PgBouncer in transaction mode in front of the PostgreSQL of the URL given as the only argument
# (as .ci/system-postgres.sh prints it), the way an operator runs Threadwise with DATABASE_POOL_MODE=transaction.
# Prints the URL through PgBouncer on its last line. Needs root (CI runs as root); PgBouncer itself runs as the
# postgres user.
set -euo pipefail

direct=${1:?usage: pgbouncer.sh postgresql+asyncpg://user:password@host:port/database}
PORT=6432

# user:password@host:port/database out of the URL (no query: the server is reached over TCP).
rest=${direct#*://}
credentials=${rest%%@*}
user=${credentials%%:*}
password=${credentials#*:}
address=${rest#*@}
address=${address%%/*}
host=${address%%:*}
server_port=${address##*:}
database=${rest##*/}

export DEBIAN_FRONTEND=noninteractive
apt-get install -y -qq pgbouncer >&2

config=$(mktemp -d)
chmod 755 "$config"
printf '"%s" "%s"\n' "$user" "$password" > "$config/userlist.txt"
cat > "$config/pgbouncer.ini" <<EOF
[databases]
; Every database (the tests make their own) on the server behind.
* = host=$host port=$server_port

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $PORT
unix_socket_dir =
auth_type = scram-sha-256
auth_file = $config/userlist.txt
pool_mode = transaction
max_client_conn = 1000
default_pool_size = 10
; PostgreSQL allows 100 connections; the direct ones (LISTEN, the admin's) need some of them.
max_user_connections = 60
server_idle_timeout = 15
logfile = $config/pgbouncer.log
pidfile = $config/pgbouncer.pid
EOF
chown -R postgres "$config"
chmod 600 "$config/userlist.txt"
pgbouncer -d -u postgres "$config/pgbouncer.ini" >&2
for _ in $(seq 50); do
  if PGPASSWORD=$password psql -h 127.0.0.1 -p "$PORT" -U "$user" -d "$database" -qAtc "SELECT 1" >/dev/null 2>&1; then
    echo "$(pgbouncer --version | head -n 1) in transaction mode on port $PORT; its log: $config/pgbouncer.log" >&2
    echo "postgresql+asyncpg://$user:$password@127.0.0.1:$PORT/$database"
    exit 0
  fi
  sleep 0.2
done
echo "PgBouncer did not accept connections; its log:" >&2
cat "$config/pgbouncer.log" >&2
exit 1
