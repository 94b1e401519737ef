#!/usr/bin/env bash
# Load test: starts a release hallpass (JWT RS256, rotation on, rate limits off, fsync
# durability) on a throwaway data directory, creates sessions, and runs wrk against
#   1. GET auth/session with X-Session-Token
#   2. GET auth/session with a Bearer access token
#   3. POST tokens/refresh with rotation (one token chain per wrk connection)
# Usage: load/run.sh [duration, default 15s] [connections, default 32]
# Needs: wrk and curl (apt-get install wrk curl), python3.
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${1:-15s}
connections=${2:-32}
port=18000
api="http://127.0.0.1:$port/_allauth/app/v1"
data=$(mktemp -d)
tokens="$data/refresh_tokens.txt"

cargo build --release --quiet --bin hallpass
HEADLESS_TOKEN_STRATEGY=jwt HEADLESS_JWT_ALGORITHM=RS256 ACCOUNT_RATE_LIMITS=false \
  RUST_LOG=warn ./target/release/hallpass serve --bind "127.0.0.1:$port" --data-dir "$data" &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$data"' EXIT
for _ in $(seq 50); do curl -fs "$api/config" >/dev/null && break; sleep 0.2; done

json() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }
curl -fs -X POST "$api/auth/signup" -H 'Content-Type: application/json' \
  -d '{"email": "load@example.com", "password": "a-long-load-test-password"}' >/dev/null
login() {
  curl -fs -X POST "$api/auth/login" -H 'Content-Type: application/json' \
    -d '{"email": "load@example.com", "password": "a-long-load-test-password"}'
}
first=$(login)
export HALLPASS_SESSION_TOKEN=$(echo "$first" | json "['meta']['session_token']")
export HALLPASS_ACCESS_TOKEN=$(echo "$first" | json "['meta']['access_token']")
: > "$tokens"
for _ in $(seq "$connections"); do login | json "['meta']['refresh_token']" >> "$tokens"; done
export HALLPASS_REFRESH_TOKENS=$tokens

echo "== GET auth/session, X-Session-Token ($connections connections, $duration)"
wrk -t2 -c"$connections" -d"$duration" -s load/session_token.lua "$api/auth/session"
echo "== GET auth/session, Bearer RS256 access token"
wrk -t2 -c"$connections" -d"$duration" -s load/bearer.lua "$api/auth/session"
echo "== POST tokens/refresh, RS256, rotation on ($connections chains)"
wrk -t"$connections" -c"$connections" -d"$duration" -s load/refresh.lua "$api/tokens/refresh"
