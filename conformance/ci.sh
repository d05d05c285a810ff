#!/usr/bin/env bash
# Runs the conformance suite against a freshly started flx node, as CI does
# (called from .ci/run after the tests). Keeps the reports under
# ci-artifacts/: conformance-junit.xml (JUnit), conformance/report.{txt,json,
# junit.xml,jws}, and the node's log. Exits non-zero if a check fails or the
# run is incomplete.
#
# Ports can be moved with FLX_CONF_PORT_FED, FLX_CONF_PORT_LOCAL and
# FLX_CONF_PORT_TESTER (the tester also names the next four ports, XD-PEER's, XD-SUSPENDED's, XD-REMOTE's and XD-PULL's
# endpoints, and listens there only to catch what must not arrive).
set -euo pipefail
cd "$(dirname "$0")/.."

fed=${FLX_CONF_PORT_FED:-28443}
local_api=${FLX_CONF_PORT_LOCAL:-28080}
tester=${FLX_CONF_PORT_TESTER:-28444}
art=ci-artifacts
mkdir -p "$art"
work=$(mktemp -d)
node_pid=""
cleanup() {
  if [ -n "$node_pid" ] && kill -0 "$node_pid" 2>/dev/null; then
    kill -TERM "$node_pid" 2>/dev/null || true
    for _ in $(seq 1 30); do kill -0 "$node_pid" 2>/dev/null || break; sleep 0.5; done
    kill -KILL "$node_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

echo "== conformance: build flx"
CGO_ENABLED=0 go build -trimpath -tags netgo,osusergo,timetzdata -o "$work/flx" ./node/cmd/flx

echo "== conformance: init and start the candidate"
"$work/flx" conformance init --dir "$work/conf" \
  --candidate "XA-RC:XA:society:https://127.0.0.1:$fed" \
  --tester-listen "127.0.0.1:$tester" --candidate-local-api "127.0.0.1:$local_api"
"$work/flx" serve --config "$work/conf/candidate/config.yaml" >"$art/conformance-node.log" 2>&1 &
node_pid=$!
ready=""
for _ in $(seq 1 60); do
  if "$work/flx" healthcheck --url "http://127.0.0.1:$local_api/readyz" >/dev/null 2>&1; then ready=1; break; fi
  kill -0 "$node_pid" 2>/dev/null || break
  sleep 0.5
done
if [ -z "$ready" ]; then
  echo "the candidate node did not become ready:"; tail -n 50 "$art/conformance-node.log"; exit 1
fi

echo "== conformance: run the suite"
status=0
"$work/flx" conformance run --dir "$work/conf" --out "$art/conformance" \
  --junit "$art/conformance-junit.xml" || status=$?

pub="$work/conf/tester/keys/tester-ed25519.pub.jwk"
"$work/flx" conformance verify-report --report "$art/conformance/report.jws" --key "$pub"
cp "$pub" "$art/conformance/tester-key.pub.jwk"

pass=$(grep -o '"pass": [0-9]*' "$art/conformance/report.json" | tail -n1 | grep -o '[0-9]*$')
fail=$(grep -o '"fail": [0-9]*' "$art/conformance/report.json" | tail -n1 | grep -o '[0-9]*$')
skip=$(grep -o '"skip": [0-9]*' "$art/conformance/report.json" | tail -n1 | grep -o '[0-9]*$')
echo "conformance: $pass passed, $fail failed, $skip skipped"
exit "$status"
