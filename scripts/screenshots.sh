#!/usr/bin/env bash
# Regenerates screenshots/*.png from the real demo, driven in tmux like the e2e test:
# each scene waits (with a deadline) for what it must show, then capture-pane -e → aha → HTML
# → headless Chromium → PNG. Needs: tmux, aha, chromium (apt-get install tmux aha chromium).
# Usage: scripts/screenshots.sh [path/to/aviary]   (default: target/release/aviary)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${1:-target/release/aviary}
[ -x "$BIN" ] || { echo "build first: cargo build --release (or pass the binary)"; exit 1; }
OUT=screenshots
SOCK=aviary-shots-$$
WORK=$(mktemp -d)
trap 'tmux -L "$SOCK" kill-server 2>/dev/null || true; rm -rf "$WORK"' EXIT
export XDG_CONFIG_HOME="$WORK/config"   # no user config or themes leak into the pictures

start() { # start NAME ARGS...: a 120x36 session running aviary with ARGS
  local name=$1; shift
  start_sized "$name" 120 36 "$@"
}
start_sized() { # start_sized NAME COLS ROWS ARGS...
  local name=$1 cols=$2 rows=$3; shift 3
  tmux -L "$SOCK" new-session -d -s "$name" -x "$cols" -y "$rows" \
    "$BIN demo --seed 7 --audit-log $WORK/audit-$name.jsonl $*; sleep 600"
}
screen() { tmux -L "$SOCK" capture-pane -p -t "$1"; }
wait_for() { # wait_for SESSION TEXT SECONDS
  local deadline=$((SECONDS + $3))
  until screen "$1" | grep -qF -- "$2"; do
    if [ $SECONDS -gt "$deadline" ]; then
      echo "timed out waiting for '$2' in $1:"; screen "$1"; exit 1
    fi
    sleep 0.2
  done
}
shot() { # shot SESSION NAME BG [WxH]: write $OUT/NAME.{ansi,txt,png}
  local s=$1 name=$2 bg=$3 size=${4:-1030,622}
  sleep 0.6   # let the frame after the awaited change land (30 fps)
  tmux -L "$SOCK" capture-pane -p -e -t "$s" > "$OUT/$name.ansi"
  screen "$s" > "$OUT/$name.txt"
  local flag=--black; [ "$bg" = light ] && flag=
  aha $flag --title "aviary: $name" < "$OUT/$name.ansi" > "$WORK/$name.html"
  sed -i 's#<pre>#<pre style="font-family: DejaVu Sans Mono, monospace; font-size: 14px; line-height: 1.2; margin: 8px">#' "$WORK/$name.html"
  # Braille (the charts) and a few symbols are not in DejaVu Sans Mono; the browser falls back
  # to a proportional font and the columns drift. Pin every non-ASCII glyph to one cell.
  python3 - "$WORK/$name.html" <<'PY'
import re, sys
p = sys.argv[1]
s = open(p, encoding="utf-8").read()
s = re.sub(r"([^\x00-\x7f])", r'<span style="display:inline-block;width:1ch">\1</span>', s)
open(p, "w", encoding="utf-8").write(s)
PY
  chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --user-data-dir="$WORK/chrome-$name" --hide-scrollbars --window-size="$size" \
    --screenshot="$PWD/$OUT/$name.png" "file://$WORK/$name.html" >/dev/null 2>&1
  echo "wrote $OUT/$name.png"
}

# 1. The faulty canary: the weight climbs, the canary's errors rise above stable's, and the
#    autopilot rolls back on its own.
start faulty --scenario faulty
wait_for faulty "rolled back" 60
shot faulty detail-rollback dark
# 2. The overview of the same run.
tmux -L "$SOCK" send-keys -t faulty Escape
wait_for faulty "Rollouts (1)" 10
shot faulty overview dark

# 3. A healthy canary in progress, then the abort confirmation and the help overlay.
start healthy --scenario healthy --interval 3s
wait_for healthy "v1.5.0 canary  20%" 60
tmux -L "$SOCK" send-keys -t healthy A
wait_for healthy "Confirm abort" 10
shot healthy confirm-abort dark
tmux -L "$SOCK" send-keys -t healthy n
tmux -L "$SOCK" send-keys -t healthy '?'
wait_for healthy "? or esc closes" 10
shot healthy help dark

# 4. The light theme, for projectors: a healthy canary half way through its plan.
start light --theme light --scenario healthy --interval 3s
wait_for light "v1.5.0 canary  40%" 60
shot light light-theme light

# 5. The smallest supported terminal (80x24): charts, the weight lane and the legend all stay.
start_sized small 80 24 --scenario faulty
wait_for small "canary weight" 60
wait_for small "rolled back" 60
shot small detail-80x24 dark 700,430
