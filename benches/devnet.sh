# Sourced by the agent benchmarks (agent_rss.sh, watch_rss.sh). Names the
# dev keys of the test mnemonic (anvil's accounts 0, 2 and 3: K0 deploys and
# registers, K2 submits, K3 watches); `start_devnet [FLAGS...]` moves into a
# fresh scratch directory D and starts `$V devnet` there on a free port,
# with FLAGS, as DEVNET.
K0=0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80
K2=0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a
K3=0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6

start_devnet() {
  D=$(mktemp -d)
  cd "$D"
  PORT=$((20000 + RANDOM % 20000))
  export VERDICT_RPC_URL=http://127.0.0.1:$PORT
  "$V" devnet --port "$PORT" "$@" > devnet.log 2>&1 &
  DEVNET=$!
  sleep 1
}
