#!/usr/bin/env bash
# Conformance check against the official JS SDK (threatwinds/js-sdk).
#
#   bash scripts/sdk-check/run.sh [sdk-git-url-or-path]
#
# Clones the SDK, builds it from src (npm ci + npm run build) in a temporary directory,
# starts this server on a free loopback port with a throwaway data directory, drives
# every method of the SDK's BillingClient against it (driver.mjs) and stops the server.
# Exits 0 when every answer matches what the SDK declares, 1 when a difference was
# found, 2 when the check itself could not run.
#
# Environment:
#   VENV           virtualenv holding the `billing` command (default: .venv of this repo)
#   SDK_REF        branch, tag or commit of the SDK to check out (default: its HEAD)
#   SDK_CHECK_KEEP=1           keep the temporary directory (SDK build, server log, data)
#   SDK_CHECK_STRICT_EXTRA=1   also fail on response fields the SDK's types do not declare
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
SDK_SOURCE="${1:-https://github.com/threatwinds/js-sdk}"
VENV="${VENV:-$ROOT/.venv}"
case "$VENV" in /*) ;; *) VENV="$ROOT/$VENV" ;; esac
BILLING="$VENV/bin/billing"

for tool in git node npm curl; do
  command -v "$tool" >/dev/null || { echo "sdk-check: '$tool' is required" >&2; exit 2; }
done
[ -x "$BILLING" ] || { echo "sdk-check: no $BILLING (set VENV, or run 'make run' once)" >&2; exit 2; }

WORK="$(mktemp -d "${TMPDIR:-/tmp}/sdk-check.XXXXXX")"
SERVER_PID=""
cleanup() {
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  if [ "${SDK_CHECK_KEEP:-0}" = 1 ]; then
    echo "sdk-check: kept $WORK"
  else
    rm -rf "$WORK"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# 1. The SDK, built from its sources.
echo "sdk-check: cloning $SDK_SOURCE"
git clone --quiet "$SDK_SOURCE" "$WORK/sdk"
if [ -n "${SDK_REF:-}" ]; then git -C "$WORK/sdk" checkout --quiet "$SDK_REF"; fi
SDK_COMMIT="$(git -C "$WORK/sdk" rev-parse HEAD)"
echo "sdk-check: building the SDK at $SDK_COMMIT"
rm -rf "$WORK/sdk/dist"   # a committed dist may lag behind src; build it anew
if ! (cd "$WORK/sdk" && npm ci --no-audit --no-fund --loglevel=error && npm run build) \
    >"$WORK/sdk-build.log" 2>&1; then
  tail -n 40 "$WORK/sdk-build.log" >&2
  echo "sdk-check: the SDK did not build" >&2
  exit 2
fi
[ -f "$WORK/sdk/dist/index.mjs" ] || { echo "sdk-check: build produced no dist/index.mjs" >&2; exit 2; }

# 2. This server: throwaway SQLite database, memory counters, no Stripe, free loopback port.
PORT="$("$VENV/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
mkdir -p "$WORK/data"
SERVER_ENV=(
  env -u BILLING_DATABASE_URL -u BILLING_STRIPE_API_KEY -u BILLING_STRIPE_WEBHOOK_SECRET
  -u BILLING_STRIPE_API_BASE -u BILLING_JWT_JWKS_URL -u BILLING_JWT_JWKS_FILE
  -u BILLING_JWT_ISSUER -u BILLING_JWT_AUDIENCE -u BILLING_CATALOG_FILE
  -u BILLING_TRUSTED_PROXIES
  PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
  BILLING_DATA_DIR="$WORK/data"
  BILLING_RATE_LIMIT_STORAGE="memory://"
  BILLING_JWT_SECRET="$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')"
  BILLING_LOG_LEVEL=WARNING
)
token() { "${SERVER_ENV[@]}" "$BILLING" token "$@"; }
OWNER_ID=7d0c1f4e-0000-4000-8000-00000000a001
MEMBER_ID=7d0c1f4e-0000-4000-8000-00000000a002
ADMIN_ID=7d0c1f4e-0000-4000-8000-00000000a0ad
SERVICE_ID=7d0c1f4e-0000-4000-8000-00000000a05e
export SDK_CHECK_OWNER_EMAIL=owner@sdk-check.example
export SDK_CHECK_MEMBER_EMAIL=member@sdk-check.example
export SDK_CHECK_OWNER_ID=$OWNER_ID SDK_CHECK_MEMBER_ID=$MEMBER_ID
export SDK_CHECK_OWNER_TOKEN="$(token --user-id $OWNER_ID --email $SDK_CHECK_OWNER_EMAIL)"
export SDK_CHECK_MEMBER_TOKEN="$(token --user-id $MEMBER_ID --email $SDK_CHECK_MEMBER_EMAIL)"
export SDK_CHECK_ADMIN_TOKEN="$(token --user-id $ADMIN_ID --email admin@sdk-check.example --admin)"
export SDK_CHECK_SERVICE_TOKEN="$(token --user-id $SERVICE_ID --service ai-api)"

echo "sdk-check: starting the server on 127.0.0.1:$PORT"
"${SERVER_ENV[@]}" "$BILLING" serve --host 127.0.0.1 --port "$PORT" >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
export SDK_CHECK_BASE_URL="http://127.0.0.1:$PORT"
for _ in $(seq 300); do
  if curl -fsS "$SDK_CHECK_BASE_URL/readyz" >/dev/null 2>&1; then break; fi
  if ! kill -0 "$SERVER_PID" 2>/dev/null; then
    tail -n 40 "$WORK/server.log" >&2; echo "sdk-check: the server did not start" >&2; exit 2
  fi
  sleep 0.1
done
curl -fsS "$SDK_CHECK_BASE_URL/readyz" >/dev/null || { tail -n 40 "$WORK/server.log" >&2; exit 2; }

# 3. The driver, with the SDK as built above.
export SDK_CHECK_SDK_DIR="$WORK/sdk" SDK_CHECK_SDK_COMMIT="$SDK_COMMIT"
status=0
node "$HERE/driver.mjs" || status=$?
if [ "$status" -ge 2 ]; then
  echo "sdk-check: server log (last lines):" >&2
  tail -n 40 "$WORK/server.log" >&2
fi
exit "$status"
