#!/usr/bin/env bash
# A watchdog's memory as the claims it has judged settle: a devnet (a block
# a second), the contracts with a 5-second challenge window, the model
# registered and `verdict watch`; then N honest claims of INPUT posted one
# after another (`verdict claim submit --no-defend --new`, each its own
# process). The watchdog's resident and peak memory (VmRSS, VmHWM) are read
# after the first claim and after every STEP-th, once it has judged it.
# Usage: benches/watch_rss.sh PACKAGE.dnn INPUT N [STEP]   (from the
# repository root, after `cargo build --workspace`)
set -euo pipefail
V=$PWD/target/debug/verdict
PKG=$(realpath "$1")
INPUT=$(realpath "$2")
N=$3
STEP=${4:-10}
source "$(dirname "$(realpath "$0")")/devnet.sh"
start_devnet --block-time 1
VERDICT_PRIVATE_KEY=$K0 "$V" deploy --challenge-window 5 > deploy.log
VERDICT_PRIVATE_KEY=$K0 "$V" model register "$PKG" > register.log
VERDICT_PRIVATE_KEY=$K3 VERDICT_DATA_DIR=$D/watch "$V" watch --model "$PKG" > watch.log 2> watch.err &
WATCH=$!
sleep 3
memory() {
  awk '/VmRSS|VmHWM/ {printf "%s %s KiB  ", $1, $2}' "/proc/$WATCH/status"
}
echo "before any claim: $(memory)"
for i in $(seq 1 "$N"); do
  VERDICT_PRIVATE_KEY=$K2 VERDICT_DATA_DIR=$D/submit "$V" claim submit --model "$PKG" \
    --input "$INPUT" --no-defend --new --json > submit.log 2> submit.err
  if [ "$i" -eq 1 ] || [ $((i % STEP)) -eq 0 ]; then
    # Past the window: the claims so far are settled.
    sleep 7
    echo "$i claims: $(memory)"
  fi
done
kill -INT "$WATCH"
wait "$WATCH" || true
kill -INT "$DEVNET"
wait "$DEVNET" || true
echo "logs in $D"
