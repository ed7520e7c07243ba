#!/usr/bin/env bash
# Measures aviary at scale: a local stand-in Kubernetes API (examples/stand_in_api.rs) serves N
# rollouts with CHURN changes a second; aviary runs in its TUI at 200x60, --read-only, inside
# tmux. Prints, per run: time from exec to the first frame, time from exec to every row on
# screen, then CPU (% of one core) and RSS over two windows: the first minute after the rows
# appear ("start"), and a minute once the board has settled ("settled", from SETTLE seconds
# after the rows: the CHANGED column counts seconds for its first 100 s, so until then the
# board redraws every second; after that its texts turn over once a minute).
#
#   scripts/scale.sh [N=1000] [CHURN=0] [SECONDS=60] [RUNS=3]
#   SETTLE=100 (seconds from the rows to the settled window)
#
# Needs tmux. Builds the binary and the stand-in first (release; PROFILE=debug for a quick
# check of the script itself — its numbers are not the product's) into $CARGO_TARGET_DIR
# (default target/). AVIARY_BIN and STAND_IN_BIN run given binaries instead, without building
# (to measure an older build against the same script).
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-1000}
CHURN=${2:-0}
WINDOW=${3:-60}
RUNS=${4:-3}
SETTLE=${SETTLE:-100}
PROFILE=${PROFILE:-release}
TARGET=${CARGO_TARGET_DIR:-target}
if [ -z "${AVIARY_BIN:-}" ]; then
  if [ "$PROFILE" = release ]; then
    cargo build --release --quiet --bin aviary --example stand_in_api
  else
    cargo build --quiet --bin aviary --example stand_in_api
  fi
fi
BIN=${AVIARY_BIN:-$TARGET/$PROFILE/aviary}
API=${STAND_IN_BIN:-$TARGET/$PROFILE/examples/stand_in_api}
WORK=$(mktemp -d)
SOCK="aviary-scale-$$"
TICKS=$(getconf CLK_TCK)
cleanup() {
  for r in $(seq 1 "$RUNS"); do tmux -L "$SOCK-$r" kill-server 2>/dev/null || true; done
  [ -n "${API_PID:-}" ] && kill "$API_PID" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

now_ms() { date +%s%3N; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }

"$API" "$N" "$CHURN" "$WORK/kubeconfig" >"$WORK/api.log" 2>&1 &
API_PID=$!
for _ in $(seq 1 200); do [ -s "$WORK/kubeconfig" ] && break; sleep 0.05; done
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo); $(head -1 "$WORK/api.log")"
printf '%-4s %9s %9s %10s %10s %12s %12s\n' run first_ms rows_ms start_cpu start_rss settled_cpu settled_rss
# CPU (% of one core) and RSS (MB) of $1 over the next $WINDOW seconds.
measure() {
  local c0 t0 c1 t1
  c0=$(cpu_ticks "$1"); t0=$(now_ms)
  sleep "$WINDOW"
  c1=$(cpu_ticks "$1"); t1=$(now_ms)
  awk -v c="$((c1 - c0))" -v hz="$TICKS" -v ms="$((t1 - t0))" -v k="$(rss_kb "$1")" \
    'BEGIN {printf "%.2f %.1f", 100 * c / hz / (ms / 1000), k / 1024}'
}
for run in $(seq 1 "$RUNS"); do
  # A socket per run: a server still shutting down must not take the next run with it.
  [ "$run" -gt 1 ] && tmux -L "$SOCK-$((run - 1))" kill-server 2>/dev/null || true
  S="$SOCK-$run"
  rm -f "$WORK/t0"
  # The clock starts at aviary's exec, not at tmux's own start.
  tmux -L "$S" new-session -d -x 200 -y 60 \
    "date +%s%3N >$WORK/t0; exec env XDG_CONFIG_HOME=$WORK/cfg $BIN --read-only --audit-log $WORK/audit.jsonl kube --kubeconfig $WORK/kubeconfig -A"
  pid=$(tmux -L "$S" display -p '#{pane_pid}')
  first=""; rows=""
  deadline=$(( $(now_ms) + 120000 ))
  while [ -z "$rows" ] && [ "$(now_ms)" -lt "$deadline" ]; do
    screen=$(tmux -L "$S" capture-pane -p 2>/dev/null || true)
    seen=$(now_ms)
    [ -s "$WORK/t0" ] || continue
    t=$(( seen - $(cat "$WORK/t0") ))
    if [ -z "$first" ] && grep -q "aviary" <<<"$screen"; then first=$t; fi
    if grep -q "Rollouts ($N)" <<<"$screen"; then rows=$t; fi
    # Polled as fast as tmux answers for the first frame, then every 10 ms.
    [ -n "$first" ] && sleep 0.01
  done
  sleep 5
  start=$(measure "$pid")
  sleep "$(( SETTLE > WINDOW + 5 ? SETTLE - WINDOW - 5 : 0 ))"
  settled=$(measure "$pid")
  # shellcheck disable=SC2086
  printf '%-4s %9s %9s %10s %10s %12s %12s\n' "$run" "${first:-none}" "${rows:-none}" $start $settled
done
