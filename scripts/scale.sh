#!/usr/bin/env bash
# Measures aviary at scale: a local stand-in Kubernetes API (examples/stand_in_api.rs) serves N
# rollouts with CHURN changes a second; aviary runs in its TUI at 200x60, --read-only, inside
# tmux. Prints, per run: time from exec to the first frame, time from exec to every row on
# screen, then CPU (% of one core) and RSS over two windows: the first minute after the rows
# appear ("start"), and a minute once the board has settled ("settled", from SETTLE seconds
# after the rows: the CHANGED column counts seconds for its first 100 s, so until then the
# board redraws every second; after that its texts turn over once a minute). Last, the lag
# between an object's change and its row showing it: PROBES times, the stand-in changes the top
# row's weight (on SIGUSR1) and the script watches the screen for the new figure; the median.
#
#   scripts/scale.sh [N=1000] [CHURN=0] [SECONDS=60] [RUNS=3]
#   SETTLE=100 (seconds from the rows to the settled window), PROBES=5
#   MODE=headless runs `aviary kube --headless` instead of the TUI: "first" is its first JSON
#   line, "rows" the first second that reports all N, and the lag is to the first line
#   carrying the probe's weight (headless reports each rollout once a second, so its lag
#   includes up to a second of waiting for the next report).
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
PROBES=${PROBES:-5}
MODE=${MODE:-tui}
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
# mawk (Debian's awk) fills its input buffer before it looks at a line, so the last lines of
# headless's once-a-second report would wait for the next one; -W interactive reads by line.
# (Matched on the captured text: under pipefail, `| grep -q` could lose to awk's SIGPIPE.)
LINE_AWK=(awk)
case "$(awk -W version 2>&1 || true)" in *mawk*) LINE_AWK=(awk -W interactive) ;; esac
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
printf '%-4s %9s %9s %10s %10s %12s %12s %7s\n' run first_ms rows_ms start_cpu start_rss settled_cpu settled_rss lag_ms
# CPU (% of one core) and RSS (MB) of $1 over the next $WINDOW seconds.
measure() {
  local c0 t0 c1 t1
  c0=$(cpu_ticks "$1"); t0=$(now_ms)
  sleep "$WINDOW"
  c1=$(cpu_ticks "$1"); t1=$(now_ms)
  awk -v c="$((c1 - c0))" -v hz="$TICKS" -v ms="$((t1 - t0))" -v k="$(rss_kb "$1")" \
    'BEGIN {printf "%.2f %.1f", 100 * c / hz / (ms / 1000), k / 1024}'
}
# The stand-in's k-th probe sets the top row's canary weight to 30 + k % 70 per cent.
PROBED=0
# Sets LAG: median milliseconds from a probe to the top row showing it, over PROBES probes on
# tmux socket $1 (headless: in the probed rollout's lines, file $1). Not in a subshell: PROBED
# must count every probe the stand-in has had.
lag() {
  local lags=() w t0 deadline line
  for _ in $(seq 1 "$PROBES"); do
    PROBED=$((PROBED + 1)); w=$((30 + PROBED % 70))
    t0=$(now_ms); kill -USR1 "$API_PID"
    deadline=$((t0 + 10000))
    while [ "$(now_ms)" -lt "$deadline" ]; do
      if [ "$MODE" = headless ]; then
        grep -qE "canary\":${w}\.0[,}]" "$1" && { lags+=($(( $(now_ms) - t0 ))); break; }
        sleep 0.005
      else
        line=$(tmux -L "$1" capture-pane -p 2>/dev/null | grep -m1 "svc-00000 " || true)
        if grep -q " ${w}% " <<<"$line"; then lags+=($(( $(now_ms) - t0 ))); break; fi
      fi
    done
    # A second and a random part of one: a fixed pause would lock every probe to the same
    # point of headless's once-a-second report, and measure only its worst case.
    sleep "1.$(printf '%03d' $((RANDOM % 1000)))"
  done
  LAG=none
  [ "${#lags[@]}" -eq "$PROBES" ] || return 0
  LAG=$(printf '%s\n' "${lags[@]}" | sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}')
}
for run in $(seq 1 "$RUNS"); do
  # A socket per run: a server still shutting down must not take the next run with it.
  [ "$run" -gt 1 ] && tmux -L "$SOCK-$((run - 1))" kill-server 2>/dev/null || true
  S="$SOCK-$run"
  rm -f "$WORK/t0"
  if [ "$MODE" = headless ]; then
    # awk marks the first line and the first second reporting all N, and keeps the probed
    # rollout's lines for lag(); the rest (N lines a second) is dropped.
    P="$WORK/probe-$run"; : >"$P"; rm -f "$WORK/first" "$WORK/rows"
    t0=$(now_ms)
    env XDG_CONFIG_HOME="$WORK/cfg" "$BIN" --read-only --audit-log "$WORK/audit.jsonl" \
      kube --kubeconfig "$WORK/kubeconfig" -A --headless --duration 1h \
      > >("${LINE_AWK[@]}" -v n="$N" -v dir="$WORK" -v probe="$P" '
            NR == 1 { print "" > (dir "/first"); close(dir "/first") }
            match($0, /"t":[0-9.]+/) {
              t = substr($0, RSTART + 4, RLENGTH - 4)
              if (++seen[t] == n && !rows) { rows = 1; print "" > (dir "/rows"); close(dir "/rows") }
            }
            /svc-00000"/ { print > probe; fflush(probe) }') 2>"$WORK/headless-$run.err" &
    pid=$!
    first=""; rows=""
    deadline=$((t0 + 120000))
    while [ -z "$rows" ] && [ "$(now_ms)" -lt "$deadline" ]; do
      [ -z "$first" ] && [ -e "$WORK/first" ] && first=$(( $(now_ms) - t0 ))
      [ -e "$WORK/rows" ] && rows=$(( $(now_ms) - t0 ))
      sleep 0.005
    done
    sleep 5
    start=$(measure "$pid")
    sleep "$(( SETTLE > WINDOW + 5 ? SETTLE - WINDOW - 5 : 0 ))"
    settled=$(measure "$pid")
    lag "$P"
    kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true
    # shellcheck disable=SC2086
    printf '%-4s %9s %9s %10s %10s %12s %12s %7s\n' "$run" "${first:-none}" "${rows:-none}" $start $settled "$LAG"
    continue
  fi
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
  lag "$S"
  # shellcheck disable=SC2086
  printf '%-4s %9s %9s %10s %10s %12s %12s %7s\n' "$run" "${first:-none}" "${rows:-none}" $start $settled "$LAG"
  # This run's aviary is gone before the next starts: its exit (at 10,000 rollouts, freeing
  # about 100 MB) must not share the cores with the next run's first frame.
  tmux -L "$S" kill-server 2>/dev/null || true
  for _ in $(seq 1 200); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
done
