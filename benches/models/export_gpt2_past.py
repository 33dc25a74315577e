# GPT-2 124M (GPT2Config defaults, random weights from torch.manual_seed(0)) exported as one decoder step with its
# KV cache, as models/transformers/export_models.py exports the tiny one: plain-tensor past keys and values in
# (past_key_0, past_value_0, ... past_value_11, [1, 12, past, 64]), logits and presents out; dynamo, opset 17.
# This is what `dnnc convert --generate` unrolls. Nothing downloads, nothing is committed.
# Also writes a prompt (prompt_ids.npy, [1, PROMPT] from seed 1) and torch's greedy tokens (greedy.tokens.npy,
# NEW tokens, full recompute), and times onnxruntime on the exported step in a Python loop with its KV cache,
# one thread (the anchor of benches/README.md): time to first token (the prefill) and tokens/s over NEW tokens,
# median of RUNS.
# Usage: python export_gpt2_past.py OUT_DIR [PROMPT=16] [NEW=32] [RUNS=3]
#        (needs torch, transformers, onnx, onnxscript, onnxruntime)
import os, sys, time, numpy as np, torch, onnx, onnxruntime as ort
from onnx_fix import fix_split
from torch.export import Dim
from transformers import DynamicCache, GPT2Config, GPT2LMHeadModel

OUT = sys.argv[1]
PROMPT = int(sys.argv[2]) if len(sys.argv) > 2 else 16
NEW = int(sys.argv[3]) if len(sys.argv) > 3 else 32
RUNS = int(sys.argv[4]) if len(sys.argv) > 4 else 3
os.makedirs(OUT, exist_ok=True)
torch.manual_seed(0)
model = GPT2LMHeadModel(GPT2Config()).eval()
L, H, D = model.config.n_layer, model.config.n_head, model.config.n_embd // model.config.n_head
PAST = [f"{kv}_{i}" for i in range(L) for kv in ("past_key", "past_value")]
PRES = [p.replace("past", "present") for p in PAST]


class Step(torch.nn.Module):  # plain-tensor past keys/values in, logits + present keys/values out
    def __init__(s, m): super().__init__(); s.m = m
    def forward(s, input_ids, *past):
        cache = DynamicCache(ddp_cache_data=[(past[2 * i], past[2 * i + 1]) for i in range(L)], config=s.m.config)
        o = s.m(input_ids=input_ids, cache=cache, use_cache=True)
        return (o.logits, *[t for l in o.cache.layers for t in (l.keys, l.values)])


step = Step(model).eval()
path = f"{OUT}/gpt2_124m_past.onnx"
ex = (torch.randint(0, 50257, (1, 3), generator=torch.Generator().manual_seed(2)),
      *[torch.randn(1, H, 5, D, generator=torch.Generator().manual_seed(3 + i)) for i in range(2 * L)])
s, p = Dim("seq", min=1, max=1024), Dim("past", min=1, max=1023)
with torch.no_grad():
    torch.onnx.export(step, ex, path, dynamo=True, opset_version=17, input_names=["input_ids"] + PAST,
                      output_names=["logits"] + PRES, external_data=False,
                      dynamic_shapes={"input_ids": {1: s}, "past": tuple({2: p} for _ in PAST)})
m = onnx.load(path); fix_split(m); onnx.save(m, path)

prompt = torch.randint(0, 50257, (1, PROMPT), generator=torch.Generator().manual_seed(1))
with torch.no_grad():
    ids = prompt
    for _ in range(NEW):
        z = model(input_ids=ids, use_cache=False).logits[0, -1]
        ids = torch.cat([ids, z.argmax().view(1, 1)], 1)
greedy = ids[:, PROMPT:]
np.save(f"{OUT}/prompt_ids.npy", prompt.numpy()); np.save(f"{OUT}/greedy.tokens.npy", greedy.numpy())
print(path, os.path.getsize(path), "bytes;", "greedy", greedy[0].tolist())

opts = ort.SessionOptions(); opts.intra_op_num_threads = 1; opts.inter_op_num_threads = 1
sess = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])


def generate():
    feed = {"input_ids": prompt.numpy(), **{k: np.zeros((1, H, 0, D), np.float32) for k in PAST}}
    start = time.perf_counter(); toks = []
    for i in range(NEW):
        out = sess.run(None, feed)
        toks.append(int(out[0][0, -1].argmax()))
        if i == 0: first = time.perf_counter() - start
        feed = {"input_ids": np.array([[toks[-1]]], np.int64), **dict(zip(PAST, out[1:]))}
    return toks, first, time.perf_counter() - start


runs = [generate() for _ in range(RUNS)]
toks = runs[0][0]
print("onnxruntime tokens", "MATCH" if toks == greedy[0].tolist() else f"MISMATCH {toks}")
first = sorted(r[1] for r in runs)[RUNS // 2]; total = sorted(r[2] for r in runs)[RUNS // 2]
print(f"onnxruntime 1 thread: time to first token {first * 1e3:.1f} ms, {NEW} tokens in {total:.3f} s, "
      f"{NEW / total:.2f} tokens/s (median of {RUNS})")
