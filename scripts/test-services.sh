#!/usr/bin/env bash
# Starts the real services of the PostgreSQL + object storage mode for the
# tests, runs a command with their addresses in the environment, and stops
# them (issue 13):
#   - PostgreSQL (Debian package `postgresql`, installed if missing), in a
#     temporary directory, as the unprivileged user `nobody` (root cannot run
#     initdb), on a free port of 127.0.0.1, with TLS (`ssl=on`) under a
#     server certificate for 127.0.0.1 signed by a CA made for the run
#     (openssl, installed if missing);
#   - an S3 server: moto in server mode (PyPI `moto[server]`, installed if
#     missing) on a free port of 127.0.0.1, with a bucket `stateanchor-test`.
# Exports STATEANCHOR_TEST_DATABASE (an admin URL, `?sslmode=disable`: plain
# text; tests create a database each and keep the query),
# STATEANCHOR_TEST_DATABASE_CA (the run's CA certificate, PEM: the tests of
# TLS ask for it with `sslmode=require` and `--database-ca`),
# STATEANCHOR_TEST_BUCKET, AWS_ENDPOINT_URL, AWS_REGION,
# AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, and, for the failover test that
# crashes and restarts PostgreSQL, STATEANCHOR_TEST_PGCTL: a script taking
# `stop` (pg_ctl -m immediate: a crash) or `start` (same data directory,
# port and settings); PGDATA and PGBIN too.
# Usage: scripts/test-services.sh COMMAND [ARGS...]
set -euo pipefail

if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  echo "stateanchor: installing postgresql (the PostgreSQL mode's tests)" >&2
  sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq postgresql >/dev/null
fi
if ! command -v openssl >/dev/null 2>&1; then
  echo "stateanchor: installing openssl (the test PostgreSQL's TLS certificates)" >&2
  sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq openssl >/dev/null
fi
if ! command -v moto_server >/dev/null 2>&1 || ! python3 -c 'import moto, boto3' >/dev/null 2>&1; then
  echo "stateanchor: installing moto[server] (the S3 server of the tests)" >&2
  python3 -m pip install -q 'moto[server]' || python3 -m pip install -q --break-system-packages 'moto[server]'
  hash -r
fi
PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

work=$(mktemp -d /tmp/stateanchor-services.XXXXXX)
chmod 755 "$work"
pg_port=$(free_port)
s3_port=$(free_port)
run_as() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u nobody -- "$@"; else "$@"; fi
}
cleanup() {
  run_as "$PGBIN/pg_ctl" -D "$work/pg/data" -m immediate stop >/dev/null 2>&1 || true
  if [ -n "${moto_pid:-}" ]; then kill "$moto_pid" 2>/dev/null || true; wait "$moto_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

mkdir -p "$work/pg"
[ "$(id -u)" -eq 0 ] && chown nobody "$work/pg"
run_as "$PGBIN/initdb" -D "$work/pg/data" -U sa --auth=trust >"$work/initdb.log" 2>&1 || { cat "$work/initdb.log" >&2; exit 1; }
# TLS: a CA made for this run, and a server certificate it signs for the
# IP address 127.0.0.1 only (so `localhost` is a host name it is not for).
# The server's key belongs to the server's user, mode 0600, as PostgreSQL
# requires.
mkdir -p "$work/tls"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 7 \
  -subj "/CN=stateanchor test CA" -keyout "$work/tls/ca.key" -out "$work/tls/ca.crt" \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
  >"$work/tls.log" 2>&1 || { cat "$work/tls.log" >&2; exit 1; }
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=127.0.0.1" \
  -keyout "$work/pg/server.key" -out "$work/tls/server.csr" >>"$work/tls.log" 2>&1 \
  || { cat "$work/tls.log" >&2; exit 1; }
printf '%s\n' "subjectAltName=IP:127.0.0.1" "basicConstraints=critical,CA:FALSE" \
  "keyUsage=critical,digitalSignature" "extendedKeyUsage=serverAuth" >"$work/tls/server.ext"
openssl x509 -req -in "$work/tls/server.csr" -CA "$work/tls/ca.crt" -CAkey "$work/tls/ca.key" \
  -CAcreateserial -days 7 -extfile "$work/tls/server.ext" -out "$work/pg/server.crt" \
  >>"$work/tls.log" 2>&1 || { cat "$work/tls.log" >&2; exit 1; }
chmod 600 "$work/pg/server.key"
chmod 644 "$work/tls/ca.crt"
[ "$(id -u)" -eq 0 ] && chown nobody "$work/pg/server.key" "$work/pg/server.crt"
# start|stop of this server, as the user that owns its data directory.
cat >"$work/pgctl" <<EOF
#!/usr/bin/env bash
set -euo pipefail
as=""; [ "\$(id -u)" -eq 0 ] && as="runuser -u nobody --"
case "\${1:-}" in
  start) \$as "$PGBIN/pg_ctl" -D "$work/pg/data" -l "$work/pg/server.log" -w -o "-p $pg_port -k $work/pg -c listen_addresses=127.0.0.1 -c ssl=on -c ssl_cert_file=$work/pg/server.crt -c ssl_key_file=$work/pg/server.key -c synchronous_commit=on -c fsync=on -c max_connections=300" start >/dev/null ;;
  stop) \$as "$PGBIN/pg_ctl" -D "$work/pg/data" -m immediate -w stop >/dev/null ;;
  *) echo "usage: \$0 start|stop" >&2; exit 2 ;;
esac
EOF
chmod 755 "$work/pgctl"
"$work/pgctl" start || { cat "$work/pg/server.log" >&2; exit 1; }
export PGDATA="$work/pg/data" PGBIN STATEANCHOR_TEST_PGCTL="$work/pgctl"

(cd "$work" && exec moto_server -H 127.0.0.1 -p "$s3_port" >"$work/moto.log" 2>&1) &
moto_pid=$!
export AWS_ENDPOINT_URL="http://127.0.0.1:$s3_port"
export AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test
for _ in $(seq 100); do
  python3 -c "import urllib.request; urllib.request.urlopen('$AWS_ENDPOINT_URL/moto-api/')" >/dev/null 2>&1 && break
  sleep 0.1
done
python3 - <<'PY'
import os, boto3
boto3.client("s3", endpoint_url=os.environ["AWS_ENDPOINT_URL"]).create_bucket(Bucket="stateanchor-test")
PY
# Plain text: a URL without sslmode means `prefer`, which would use the
# server's TLS and refuse its certificate (the run's CA is not trusted
# without --database-ca).
export STATEANCHOR_TEST_DATABASE="postgres://sa@127.0.0.1:$pg_port/postgres?sslmode=disable"
export STATEANCHOR_TEST_DATABASE_CA="$work/tls/ca.crt"
export STATEANCHOR_TEST_BUCKET=stateanchor-test
# moto's access log, one line per request (the benchmarks count them).
export STATEANCHOR_TEST_MOTO_LOG="$work/moto.log"
echo "stateanchor: PostgreSQL at 127.0.0.1:$pg_port (TLS: CA $STATEANCHOR_TEST_DATABASE_CA), S3 (moto) at $AWS_ENDPOINT_URL" >&2
"$@"
