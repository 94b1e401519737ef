#!/usr/bin/env bash
# Login flood: starts a release hallpass (session tokens, rate limits off, fsync durability) on
# a throwaway data directory, signs one user up, then for the duration
#   1. floods POST auth/login with the right password from 500 connections (load/login.lua):
#      every request is an argon2 check, every 200 a durable new session;
#   2. measures GET auth/session (X-Session-Token) with 4 connections and --latency, starting
#      a few seconds into the flood;
#   3. samples the server's resident memory and thread count every 200 ms, and reads its peak
#      resident memory (VmHWM) at the end.
# Usage: load/login_flood.sh [duration, default 30s] [login connections, default 500]
# Settings pass through the environment, e.g. HALLPASS_PASSWORD_HASH_CONCURRENCY=512 for
# (nearly) the unbounded behaviour before the password gate. HALLPASS_BIN=path runs another
# build (say, the previous commit's) instead of building this one.
# Needs: wrk and curl (apt-get install wrk curl), python3.
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${1:-30s}
connections=${2:-500}
secs=${duration%s}
port=18001
api="http://127.0.0.1:$port/_allauth/app/v1"
data=$(mktemp -d)
server=
trap 'stop_server; rm -rf "$data"' EXIT

stop_server() {
  if [ -n "$server" ]; then
    kill "$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
    server=
  fi
}

if [ -z "${HALLPASS_BIN:-}" ]; then
  cargo build --release --quiet --features cli --bin hallpass
  HALLPASS_BIN=./target/release/hallpass
fi

env ACCOUNT_RATE_LIMITS=false RUST_LOG=warn \
  "$HALLPASS_BIN" serve --bind "127.0.0.1:$port" --data-dir "$data/server" &
server=$!
for _ in $(seq 50); do curl -fs "$api/config" >/dev/null && break; sleep 0.2; done
curl -fs "$api/config" >/dev/null || { echo "server did not start" >&2; exit 1; }

# signup EMAIL: signs EMAIL up with the load password; prints the new session's token.
signup() {
  curl -fs -X POST "$api/auth/signup" -H 'Content-Type: application/json' \
    -d "{\"email\": \"$1\", \"password\": \"$HALLPASS_LOGIN_PASSWORD\"}" |
    python3 -c "import json,sys; print(json.load(sys.stdin)['meta']['session_token'])"
}
export HALLPASS_LOGIN_EMAIL=flood@example.com HALLPASS_LOGIN_PASSWORD=a-long-load-test-password
signup "$HALLPASS_LOGIN_EMAIL" >/dev/null
# The reader is another user: the flood's new sessions soon end the flooded user's oldest
# (HALLPASS_MAX_SESSIONS_PER_USER).
HALLPASS_SESSION_TOKEN=$(signup reader@example.com)
export HALLPASS_SESSION_TOKEN

# sample: the largest VmRSS (KiB) and thread count seen, every 200 ms until the server exits.
sample() {
  local rss=0 threads=0 r t
  while [ -r "/proc/$server/status" ]; do
    r=$(awk '/^VmRSS:/ {print $2}' "/proc/$server/status" 2>/dev/null || echo 0)
    t=$(awk '/^Threads:/ {print $2}' "/proc/$server/status" 2>/dev/null || echo 0)
    [ "${r:-0}" -gt "$rss" ] && rss=$r
    [ "${t:-0}" -gt "$threads" ] && threads=$t
    echo "$rss $threads" > "$data/sample"
    sleep 0.2
  done
}
sample &
sampler=$!

echo "== $connections connections POST auth/login for $duration (binary $HALLPASS_BIN," \
  "HALLPASS_PASSWORD_HASH_CONCURRENCY=${HALLPASS_PASSWORD_HASH_CONCURRENCY:-unset})"
wrk -t2 -c"$connections" -d"$duration" --timeout 60s -s load/login.lua "$api/auth/login" \
  > "$data/logins.txt" &
flood=$!
sleep 3
echo "== GET auth/session, 4 connections, during the flood"
wrk -t1 -c4 -d"$((secs - 6))s" --timeout 30s --latency -s load/session_token.lua \
  "$api/auth/session"
wait "$flood"
cat "$data/logins.txt"
hwm=$(awk '/^VmHWM:/ {print $2}' "/proc/$server/status")
read -r rss threads < "$data/sample"
metrics=$(curl -fs "http://127.0.0.1:$port/metrics" || true)
stop_server
wait "$sampler" 2>/dev/null || true
echo "== server: peak RSS (VmHWM) $((hwm / 1024)) MiB; largest sampled RSS $((rss / 1024)) MiB," \
  "threads $threads"
echo "$metrics" | grep -E '^hallpass_password_checks_(refused_total|slots) ' || true
