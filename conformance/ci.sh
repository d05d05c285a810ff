#!/usr/bin/env bash
# Runs the conformance suite against freshly started flx nodes, as CI does
# (called from .ci/run after the tests), in three runs at once:
#   main      every check, against a candidate set up with init's defaults;
#   witness   the checks that depend on the kinds a candidate accepts and on
#             its audit witness, against a candidate set up with
#             init --accepts case.create,case.update,case.withdraw --witness;
#   manifest  the manifest checks (run --manifest-file), against a candidate
#             of their own, whose manifest file they rewrite.
# Keeps the reports under ci-artifacts/: conformance-junit.xml (JUnit of the
# main run), conformance-<run>-junit.xml for the others,
# conformance[-<run>]/report.{txt,json,junit.xml,jws}, and each node's log.
# Exits non-zero if a check fails or a run is incomplete.
#
# Ports can be moved with FLX_CONF_PORT_FED, FLX_CONF_PORT_LOCAL and
# FLX_CONF_PORT_TESTER (the tester also names the next four ports, XD-PEER's,
# XD-SUSPENDED's, XD-REMOTE's and XD-PULL's endpoints, and listens there only
# to catch what must not arrive); the witness run uses each plus 10, the
# manifest run each plus 20.
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

# run NAME OUT JUNIT [run flags...]: run the suite of run NAME and verify
# its signed report.
run() {
  local name=$1 out=$2 junit=$3
  shift 3
  local conf="$work/$name" status=0
  "$work/flx" conformance run --dir "$conf" --out "$out" --junit "$junit" "$@" >"$work/$name.out" 2>&1 || status=$?
  local pub="$conf/tester/keys/tester-ed25519.pub.jwk"
  "$work/flx" conformance verify-report --report "$out/report.jws" --key "$pub" >>"$work/$name.out" 2>&1 || status=1
  cp "$pub" "$out/tester-key.pub.jwk"
  return "$status"
}

echo "== conformance: init and start the candidates (main, witness, manifest)"
start main 0
start witness 10 --accepts case.create,case.update,case.withdraw --witness
start manifest 20

echo "== conformance: run the suites"
accepts_checks=FLX-ENV-009/unaccepted-kind,FLX-API-001/metadata,FLX-RCP-001/receipt,FLX-SCH-001/invalid-per-kind,FLX-SCH-003/examples-accepted,FLX-DLV-011/replay-per-sender,FLX-WIT-001/head-sent,FLX-WIT-001/head-resent
run main "$art/conformance" "$art/conformance-junit.xml" & main_pid=$!
run witness "$art/conformance-witness" "$art/conformance-witness-junit.xml" --only "$accepts_checks" & witness_pid=$!
run manifest "$art/conformance-manifest" "$art/conformance-manifest-junit.xml" \
  --manifest-file "$work/manifest/candidate/data/trust/manifest.jws" --manifest-refresh 1s --only FLX-MAN,FLX-TLS-004 & manifest_pid=$!
status=0
for r in main:$main_pid witness:$witness_pid manifest:$manifest_pid; do
  name=${r%%:*}
  rs=0
  wait "${r#*:}" || rs=$?
  echo "-- conformance run $name (exit $rs)"
  cat "$work/$name.out"
  [ "$rs" -eq 0 ] || status=$rs
done

for out in conformance conformance-witness conformance-manifest; do
  pass=$(grep -o '"pass": [0-9]*' "$art/$out/report.json" | tail -n1 | grep -o '[0-9]*$')
  fail=$(grep -o '"fail": [0-9]*' "$art/$out/report.json" | tail -n1 | grep -o '[0-9]*$')
  skip=$(grep -o '"skip": [0-9]*' "$art/$out/report.json" | tail -n1 | grep -o '[0-9]*$')
  echo "$out: $pass passed, $fail failed, $skip skipped"
done
exit "$status"
