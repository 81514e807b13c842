#!/usr/bin/env bash
# Runs pytest once per database, all at once, each into its own log; prints each log in
# order when it is done, and fails if any run failed.   (called by ./dev test)
#   run-databases.sh PYTHON DB... -- [pytest options]
# The runs share nothing but the servers (each has its own database, temp dir and ports), and
# most of a run is spent waiting on I/O, so running them side by side roughly halves the wall
# time on two cores. VOXBASE_TEST_SERIAL=1 runs them one after another, streaming the output.
set -uo pipefail
python="$1"; shift
dbs=(); while [ $# -gt 0 ] && [ "$1" != "--" ]; do dbs+=("$1"); shift; done
shift || true

if [ "${VOXBASE_TEST_SERIAL:-}" = "1" ] || [ ${#dbs[@]} -eq 1 ]; then
  status=0
  for db in "${dbs[@]}"; do
    echo "=== tests on $db ==="
    VOXBASE_TEST_DATABASE=$db "$python" -m pytest "$@" || status=$?
  done
  exit $status
fi

logs=$(mktemp -d); trap 'rm -rf "$logs"' EXIT
declare -A pids
start=$SECONDS
for db in "${dbs[@]}"; do
  VOXBASE_TEST_DATABASE=$db "$python" -m pytest --color=yes "$@" >"$logs/$db.log" 2>&1 &
  pids[$db]=$!
done
echo "running the tests on ${dbs[*]} side by side (VOXBASE_TEST_SERIAL=1 for one at a time)…"
status=0
for db in "${dbs[@]}"; do
  wait "${pids[$db]}"; rc=$?
  [ $rc -eq 0 ] || status=$rc
  echo "=== tests on $db (exit $rc, done after $((SECONDS - start)) s) ==="
  cat "$logs/$db.log"
done
exit $status
