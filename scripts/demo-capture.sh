#!/usr/bin/env bash
# Makes the README's animated capture of the real fleet demo: `aviary demo --seed 7` (the
# default fleet, presenter pace) runs in tmux at 120x36; at each beat of the story the script
# waits (with a deadline) for what the frame must show, then capture-pane -e → aha → HTML →
# headless Chromium → PNG; ImageMagick joins the frames into screenshots/demo.gif and a strip
# of the same frames, screenshots/demo-strip.png.
# Needs Debian's tmux, aha, chromium and imagemagick (apt-get install tmux aha chromium imagemagick).
# Usage: scripts/demo-capture.sh [path/to/aviary]   (default: target/release/aviary)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${1:-target/release/aviary}
[ -x "$BIN" ] || { echo "build first: cargo build --release (or pass the binary)"; exit 1; }
# ImageMagick 6 installs convert-im6.q16; a `convert` earlier on PATH may be something else.
IM=$(command -v magick || command -v convert-im6.q16 || command -v convert-im6 || true)
[ -n "$IM" ] || { echo "needs ImageMagick: apt-get install imagemagick"; exit 1; }
OUT=screenshots
SOCK=aviary-capture-$$
WORK=$(mktemp -d)
trap 'tmux -L "$SOCK" kill-server 2>/dev/null || true; rm -rf "$WORK"' EXIT
export XDG_CONFIG_HOME="$WORK/config"   # no user config or themes leak into the pictures

tmux -L "$SOCK" new-session -d -s demo -x 120 -y 36 \
  "$BIN demo --seed 7 --fps 10 --audit-log $WORK/audit.jsonl; sleep 600"
screen() { tmux -L "$SOCK" capture-pane -p -t demo; }
wait_for() { # wait_for TEXT SECONDS
  local deadline=$((SECONDS + $2))
  until screen | grep -qF -- "$1"; do
    if [ $SECONDS -gt "$deadline" ]; then
      echo "timed out waiting for '$1':"; screen; exit 1
    fi
    sleep 0.2
  done
}
wait_row() { # wait_row ROLLOUT TEXT SECONDS: a table row naming ROLLOUT shows TEXT
  local deadline=$((SECONDS + $3))
  until screen | grep -F -- "$1" | grep -qF -- "$2"; do
    if [ $SECONDS -gt "$deadline" ]; then
      echo "timed out waiting for '$2' on $1:"; screen; exit 1
    fi
    sleep 0.2
  done
}
n=0
frame() { # frame: the screen now → $WORK/frame-NN.png
  sleep 0.4   # let the frame after the awaited change land
  local f; f=$(printf '%s/frame-%02d' "$WORK" "$n"); n=$((n + 1))
  tmux -L "$SOCK" capture-pane -p -e -t demo > "$f.ansi"
  aha --black --title "aviary demo" < "$f.ansi" > "$f.html"
  sed -i 's#<pre>#<pre style="font-family: DejaVu Sans Mono, monospace; font-size: 14px; line-height: 1.2; margin: 8px">#' "$f.html"
  # Braille and a few symbols are not in DejaVu Sans Mono; pin every non-ASCII glyph to one
  # cell so the columns stay straight.
  python3 - "$f.html" <<'PY'
import re, sys
p = sys.argv[1]
s = open(p, encoding="utf-8").read()
s = re.sub(r"([^\x00-\x7f])", r'<span style="display:inline-block;width:1ch">\1</span>', s)
open(p, "w", encoding="utf-8").write(s)
PY
  chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --user-data-dir="$WORK/chrome" --hide-scrollbars --window-size=1030,622 \
    --screenshot="$f.png" "file://$f.html" >/dev/null 2>&1
  echo "frame $n: $(screen | tail -2 | head -1 | cut -c1-100)"
}

# The beats of the ~90 s story.
# Row states persist, so each wait holds whatever order the fates arrive in.
wait_for "Rollouts (4)" 30;                     frame   # four canaries start
wait_row demo:payments " 20%" 60;               frame   # the first steps
wait_row demo:checkout " 30%" 60;               frame   # checkout at 30 %: the fault surfaces
wait_row demo:checkout Aborted 60;              frame   # ... and the autopilot rolls it back
wait_row demo:inventory AwaitingPro 60;         frame   # inventory waits for a human, sorted first
wait_row demo:search Aborted 90;                frame   # search: too slow
wait_row demo:payments Succeeded 120;           frame   # payments: the happy ending
tmux -L "$SOCK" send-keys -t demo Enter   # open the row under the cursor: charts and the why
sleep 1.5;                                 frame

"$IM" -delay 250 -loop 0 "$WORK"/frame-*.png -resize 75% -layers Optimize "$OUT/demo.gif"
"$IM" "$WORK"/frame-02.png "$WORK"/frame-04.png "$WORK"/frame-06.png "$WORK"/frame-07.png -resize 50% -append "$OUT/demo-strip.png"
echo "wrote $OUT/demo.gif and $OUT/demo-strip.png"
