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
D=$(mktemp -d)
cd "$D"
PORT=$((20000 + RANDOM % 20000))
export VERDICT_RPC_URL=http://127.0.0.1:$PORT
# Dev keys of the test mnemonic (anvil's accounts 0, 2 and 3).
K0=0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80
K2=0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a
K3=0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6
"$V" devnet --port "$PORT" > devnet.log 2>&1 &
DEVNET=$!
sleep 1
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
