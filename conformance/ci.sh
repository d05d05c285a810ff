#!/usr/bin/env bash
# Runs the conformance suite against freshly started flx nodes, as CI does
# (called from .ci/run after the tests), in four runs at once, each against
# a candidate of its own:
#   outbound  the outbound checks (most of the waiting: backoff, quiet
#             periods), against a candidate set up with init's defaults;
#   inbound   every other check but the manifest checks, likewise;
#   witness   the checks that depend on the kinds a candidate accepts and on
#             its audit witness, against a candidate set up with
#             init --accepts case.create,case.update,case.withdraw --witness;
#   manifest  the manifest checks (run --manifest-file), against a candidate
#             whose manifest file they rewrite.
# Keeps the reports under ci-artifacts/: conformance-<run>-junit.xml (JUnit),
# conformance-<run>/report.{txt,json,junit.xml,jws}, and each node's log.
# Exits non-zero if a check fails or a run is incomplete.
#
# Ports can be moved with FLX_CONF_PORT_FED, FLX_CONF_PORT_LOCAL and
# FLX_CONF_PORT_TESTER (the tester also names the next four ports, XD-PEER's,
# XD-SUSPENDED's, XD-REMOTE's and XD-PULL's endpoints, and listens there only
# to catch what must not arrive); the inbound run uses each plus 10, the
# witness run plus 20, the manifest run plus 30.
set -euo pipefail
cd "$(dirname "$0")/.."

fed=${FLX_CONF_PORT_FED:-28443}
local_api=${FLX_CONF_PORT_LOCAL:-28080}
tester=${FLX_CONF_PORT_TESTER:-28444}
art=ci-artifacts
mkdir -p "$art"
work=$(mktemp -d)
node_pids=()
cleanup() {
  for pid in "${node_pids[@]}"; do
    kill -0 "$pid" 2>/dev/null && kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${node_pids[@]}"; do
    for _ in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    kill -KILL "$pid" 2>/dev/null || true
  done
  rm -rf "$work"
}
trap cleanup EXIT

echo "== conformance: build flx"
CGO_ENABLED=0 go build -trimpath -tags netgo,osusergo,timetzdata -o "$work/flx" ./node/cmd/flx

# start NAME OFFSET [init flags...]: init a conformance directory for run
# NAME with ports moved by OFFSET, and start its candidate.
start() {
  local name=$1 off=$2
  shift 2
  local conf="$work/$name" lapi=$((local_api + off))
  "$work/flx" conformance init --dir "$conf" \
    --candidate "XA-RC:XA:society:https://127.0.0.1:$((fed + off))" \
    --tester-listen "127.0.0.1:$((tester + off))" --candidate-local-api "127.0.0.1:$lapi" "$@" >/dev/null
  "$work/flx" serve --config "$conf/candidate/config.yaml" >"$art/conformance-$name-node.log" 2>&1 &
  node_pids+=($!)
  local pid=$!
  for _ in $(seq 1 60); do
    if "$work/flx" healthcheck --url "http://127.0.0.1:$lapi/readyz" >/dev/null 2>&1; then return 0; fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.5
  done
  echo "the $name candidate did not become ready:"; tail -n 50 "$art/conformance-$name-node.log"
  return 1
}

# run NAME [run flags...]: run the suite of run NAME and verify its signed
# report.
run() {
  local name=$1
  shift
  local conf="$work/$name" out="$art/conformance-$name" status=0
  "$work/flx" conformance run --dir "$conf" --out "$out" --junit "$art/conformance-$name-junit.xml" "$@" >"$work/$name.out" 2>&1 || status=$?
  local pub="$conf/tester/keys/tester-ed25519.pub.jwk"
  "$work/flx" conformance verify-report --report "$out/report.jws" --key "$pub" >>"$work/$name.out" 2>&1 || status=1
  cp "$pub" "$out/tester-key.pub.jwk"
  return "$status"
}

echo "== conformance: init and start the candidates (outbound, inbound, witness, manifest)"
start outbound 0
start inbound 10
start witness 20 --accepts case.create,case.update,case.withdraw --witness
start manifest 30

echo "== conformance: run the suites"
outbound_checks=$("$work/flx" conformance list | awk '$2 == "outbound" {print $1}' | paste -sd, -)
inbound_checks=$("$work/flx" conformance list | awk '$2 != "outbound" && $2 != "manifest" {print $1}' | paste -sd, -)
accepts_checks=FLX-ENV-009/unaccepted-kind,FLX-API-001/metadata,FLX-RCP-001/receipt,FLX-SCH-001/invalid-per-kind,FLX-SCH-003/examples-accepted,FLX-DLV-011/replay-per-sender,FLX-WIT-001/head-sent,FLX-WIT-001/head-resent
pids=()
run outbound --only "$outbound_checks" & pids+=(outbound:$!)
run inbound --only "$inbound_checks" & pids+=(inbound:$!)
run witness --only "$accepts_checks" & pids+=(witness:$!)
run manifest --manifest-file "$work/manifest/candidate/data/trust/manifest.jws" --manifest-refresh 1s \
  --only FLX-MAN,FLX-TLS-004 & pids+=(manifest:$!)
status=0
for r in "${pids[@]}"; do
  name=${r%%:*}
  rs=0
  wait "${r#*:}" || rs=$?
  echo "-- conformance run $name (exit $rs)"
  cat "$work/$name.out"
  [ "$rs" -eq 0 ] || status=$rs
done

for r in "${pids[@]}"; do
  name=${r%%:*}
  json="$art/conformance-$name/report.json"
  pass=$(grep -o '"pass": [0-9]*' "$json" | tail -n1 | grep -o '[0-9]*$')
  fail=$(grep -o '"fail": [0-9]*' "$json" | tail -n1 | grep -o '[0-9]*$')
  skip=$(grep -o '"skip": [0-9]*' "$json" | tail -n1 | grep -o '[0-9]*$')
  echo "conformance $name: $pass passed, $fail failed, $skip skipped"
done
exit "$status"
