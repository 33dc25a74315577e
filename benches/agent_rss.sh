#!/usr/bin/env bash
# One dispute with each agent in its own process, for their peak RSS: a
# devnet, the contracts, the model registered, `verdict watch` and a
# falsifying `verdict claim submit` (which defends its false states until
# its claim is rejected), each under /usr/bin/time.
# Usage: benches/agent_rss.sh PACKAGE.dnn INPUT   (from the repository root,
# after `cargo build --workspace`)
set -euo pipefail
V=$PWD/target/debug/verdict
PKG=$(realpath "$1")
INPUT=$(realpath "$2")
source "$(dirname "$(realpath "$0")")/devnet.sh"
start_devnet
VERDICT_PRIVATE_KEY=$K0 "$V" deploy > deploy.log
VERDICT_PRIVATE_KEY=$K0 "$V" model register "$PKG" > register.log
VERDICT_PRIVATE_KEY=$K3 VERDICT_DATA_DIR=$D/watch \
  /usr/bin/time -f "watch: peak RSS %M KiB" "$V" watch --model "$PKG" > watch.log 2> watch.err &
WATCH=$!
sleep 3
start=$(date +%s.%N)
rc=0
VERDICT_PRIVATE_KEY=$K2 VERDICT_DATA_DIR=$D/submit \
  /usr/bin/time -f "submit: peak RSS %M KiB" "$V" claim submit --model "$PKG" --input "$INPUT" \
  --falsify --i-know-this-loses-the-bond --json > submit.log 2> submit.err || rc=$?
end=$(date +%s.%N)
sleep 2
# /usr/bin/time ignores SIGINT: signal the agent itself.
pkill -INT -f "verdict watch --model $PKG" || true
wait "$WATCH" || true
kill -INT "$DEVNET"
wait "$DEVNET" || true
echo "submit exit $rc (1: its claim rejected, as a falsifier's is), $(echo "$end - $start" | bc) s"
tail -n 1 submit.err
tail -n 1 watch.err
echo "package $(stat -c %s "$PKG") bytes; logs in $D"
