#!/usr/bin/env bash
# The bot tests N times in a row (default 20) under full CPU load: two busy-loop processes run beside
# them the whole time, so every wait in the tests is stretched the way a busy CI machine stretches it.
# Passes only when every run passes. Extra arguments go to pytest:
#   bash scripts/soak-bot-tests.sh            # 20 runs of tests/bot
#   bash scripts/soak-bot-tests.sh 5 -x       # 5 runs, each stopping at its first failure
set -uo pipefail
cd "$(dirname "$0")/.."
runs="${1:-20}"
shift $(( $# > 0 ? 1 : 0 ))
logs="$(mktemp -d)"
python3 -c 'while True: pass' &
busy1=$!
python3 -c 'while True: pass' &
busy2=$!
trap 'kill "$busy1" "$busy2" 2>/dev/null' EXIT
failed=0
start=$(date +%s)
for i in $(seq 1 "$runs"); do
    if .venv/bin/python -m pytest tests/bot -q -p no:cacheprovider "$@" >"$logs/run-$i.log" 2>&1; then
        echo "run $i/$runs: $(tail -n 1 "$logs/run-$i.log")"
    else
        failed=$((failed + 1))
        echo "run $i/$runs: FAILED — $(grep -E '^(FAILED|ERROR) ' "$logs/run-$i.log" | tr '\n' ' ') (log: $logs/run-$i.log)"
    fi
done
echo "$((runs - failed)) of $runs runs passed under load ($(( $(date +%s) - start )) s; logs in $logs)"
[ "$failed" -eq 0 ]
