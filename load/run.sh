#!/usr/bin/env bash
# Load test: starts a release hallpass (JWT RS256, rotation on, rate limits off, fsync
# durability) on a throwaway data directory, creates sessions, and runs wrk against
#   1. GET auth/session with X-Session-Token
#   2. GET auth/session with a Bearer access token
#   3. POST tokens/refresh with rotation (one token chain per wrk connection), refresh tokens
#      signed with the RSA key as allauth does (two RSA signatures per refresh)
#   4. the same with HALLPASS_JWT_REFRESH_ALGORITHM=HS256 (access tokens still RS256, refresh
#      tokens signed with an HMAC key: one RSA signature per refresh), on a fresh server
# Usage: load/run.sh [duration, default 15s] [connections, default 32]
# Needs: wrk and curl (apt-get install wrk curl), python3.
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${1:-15s}
connections=${2:-32}
threads=2
port=18000
api="http://127.0.0.1:$port/_allauth/app/v1"
data=$(mktemp -d)
server=
trap 'stop_server; rm -rf "$data"' EXIT

cargo build --release --quiet --bin hallpass

stop_server() {
  if [ -n "$server" ]; then
    kill "$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
    server=
  fi
}

# start_server DIR [NAME=VALUE ...]: a server on its own data directory, with extra settings.
start_server() {
  local dir=$1
  shift
  mkdir -p "$dir"
  env HEADLESS_TOKEN_STRATEGY=jwt HEADLESS_JWT_ALGORITHM=RS256 ACCOUNT_RATE_LIMITS=false \
    RUST_LOG=warn "$@" ./target/release/hallpass serve --bind "127.0.0.1:$port" --data-dir "$dir" &
  server=$!
  for _ in $(seq 50); do curl -fs "$api/config" >/dev/null && return; sleep 0.2; done
  echo "server did not start" >&2
  exit 1
}

json() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }
login() {
  curl -fs -X POST "$api/auth/login" -H 'Content-Type: application/json' \
    -d '{"email": "load@example.com", "password": "a-long-load-test-password"}'
}
# prepare: a user, one session for the GET runs, one refresh chain per connection.
prepare() {
  curl -fs -X POST "$api/auth/signup" -H 'Content-Type: application/json' \
    -d '{"email": "load@example.com", "password": "a-long-load-test-password"}' >/dev/null
  local first
  first=$(login)
  HALLPASS_SESSION_TOKEN=$(echo "$first" | json "['meta']['session_token']")
  HALLPASS_ACCESS_TOKEN=$(echo "$first" | json "['meta']['access_token']")
  export HALLPASS_SESSION_TOKEN HALLPASS_ACCESS_TOKEN
  HALLPASS_REFRESH_TOKENS="$data/refresh_tokens.txt"
  export HALLPASS_REFRESH_TOKENS
  : > "$HALLPASS_REFRESH_TOKENS"
  for _ in $(seq "$connections"); do
    login | json "['meta']['refresh_token']" >> "$HALLPASS_REFRESH_TOKENS"
  done
}
refresh_run() {
  HALLPASS_WRK_THREADS=$threads wrk -t"$threads" -c"$connections" -d"$duration" \
    -s load/refresh.lua "$api/tokens/refresh"
}

start_server "$data/rsa-refresh"
prepare
echo "== GET auth/session, X-Session-Token ($connections connections, $duration)"
wrk -t"$threads" -c"$connections" -d"$duration" -s load/session_token.lua "$api/auth/session"
echo "== GET auth/session, Bearer RS256 access token"
wrk -t"$threads" -c"$connections" -d"$duration" -s load/bearer.lua "$api/auth/session"
echo "== POST tokens/refresh, RS256 access and refresh tokens, rotation on ($connections chains)"
refresh_run
stop_server

start_server "$data/hmac-refresh" HALLPASS_JWT_REFRESH_ALGORITHM=HS256
prepare
echo "== POST tokens/refresh, RS256 access tokens, HS256 refresh tokens, rotation on ($connections chains)"
refresh_run
