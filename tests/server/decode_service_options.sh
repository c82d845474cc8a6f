#!/bin/sh
# slimcodec-decode-service rejects bad option values with a message and a nonzero exit: 2 for a bad command
# line, 1 for a backend that refuses its options. Never an uncaught exception (exit 134) and never a silently
# wrapped value ("-1" read as 2^64-1 by strtoull). Usage: decode_service_options.sh PATH_TO_SERVICE
svc="$1"
err=$(mktemp)
trap 'rm -f "$err"' EXIT
check() {
  want=$1
  shift
  "$svc" "$@" >/dev/null 2>"$err"
  rc=$?
  if [ "$rc" -ne "$want" ] || [ ! -s "$err" ]; then
    echo "FAIL: $* -> exit $rc (want $want, with a message)"
    cat "$err"
    exit 1
  fi
  echo "ok: $* -> $rc: $(head -n 1 "$err")"
}
check 2 --idle-timeout-ms -1
check 2 --idle-timeout-ms 0
check 2 --max-inflight -1
check 2 --max-inflight 12abc
check 2 --max-inflight 99999999999999999999999
check 2 --workers " 3"
check 2 --port 99999
check 2 --memory-budget-mb 0
check 2 --frame-timeout-ms ""
check 2 --write-timeout-ms +5
check 2 --max-connections -5
check 2 --send-buffer-bytes 100
check 2 --io-threads 0
check 2 --min-frame-rate -1
check 2 --frame-grace-ms 1x
check 2 --io-threads -1
check 2 --io-threads 65
check 2 --entropy-tables ""
check 1 --port 0 --entropy-tables /nonexistent/tables.entropy.safetensors
check 1 --port 0 --backend native --option random_seed=1 --entropy-tables "$0"
check 1 --port 0 --backend native --option random_seed=abc
check 1 --port 0 --backend native --option random_seed=99999999999999999999999
check 1 --port 0 --backend native --option random_seed=1 --option max_pixels=-1
check 1 --port 0 --backend native --option random_seed=1 --option max_height=0
check 1 --port 0 --backend native --option random_seed=1 --option fixed_size=2
exit 0
