# GPT-2 124M (GPT2Config defaults) with random weights (torch.manual_seed(0)), exported as
# torch.onnx.export writes it (dynamo, opset 17, scaled-dot-product attention), for the
# benchmarks: nothing downloads, nothing is committed. Also writes 16 token ids and torch's logits.
# Usage: python export_gpt2.py OUT_DIR [TOKENS] [last|next]   (needs torch, transformers, onnx, onnxscript)
# With `last`, the model gives the next token's logits only ([1, 1, 50257], the LM head on the last
# position, as a generation step computes it), written as gpt2_124m_last.*; with `next`, the greedy next
# token (the argmax of those logits, [1, 1]), written as gpt2_124m_next.*. A claim posts its output as
# calldata: the 16 positions' logits (3.2 MB) would cost 51 M gas, over a transaction's 2^24, and even
# one position's (201 KB) runs out of it.
import os, sys, numpy as np, torch, onnx
from onnx_fix import fix_split
from transformers import GPT2Config, GPT2LMHeadModel

OUT = sys.argv[1]
T = int(sys.argv[2]) if len(sys.argv) > 2 else 16
MODE = sys.argv[3] if len(sys.argv) > 3 else "full"
assert MODE in ("full", "last", "next"), MODE
NAME = "gpt2_124m" if MODE == "full" else f"gpt2_124m_{MODE}"
os.makedirs(OUT, exist_ok=True)
torch.manual_seed(0)
model = GPT2LMHeadModel(GPT2Config()).eval()


class Logits(torch.nn.Module):
    def __init__(s, m): super().__init__(); s.m = m
    def forward(s, input_ids):
        logits = s.m(input_ids=input_ids, use_cache=False, logits_to_keep=0 if MODE == "full" else 1).logits
        return logits.argmax(-1) if MODE == "next" else logits


ids = torch.randint(0, 50257, (1, T), generator=torch.Generator().manual_seed(1))
path = f"{OUT}/{NAME}.onnx"
w = Logits(model).eval()
with torch.no_grad():
    ref = w(ids)
    torch.onnx.export(w, (ids,), path, dynamo=True, opset_version=17, input_names=["input_ids"],
                      output_names=["token" if MODE == "next" else "logits"], external_data=False)
m = onnx.load(path); fix_split(m); onnx.save(m, path)
np.save(f"{OUT}/{NAME}.input_ids.npy", ids.numpy())
np.save(f"{OUT}/{NAME}.{'token' if MODE == 'next' else 'logits'}.npy", ref.numpy())
print(path, os.path.getsize(path), "bytes,", sum(p.numel() for p in model.parameters()), "parameters")
