# Times onnxruntime generating greedily with a decoder step exported with its KV cache
# (export_gpt2_past.py's model), in a Python loop, timed inside Python without start-up:
# the anchor of `dnnc generate`'s figures in benches/README.md.
#
# usage: python ort_generate.py MODEL.onnx PROMPT_IDS.npy NEW THREADS [RUNS]
#        (needs numpy and onnxruntime: the .venv the tests install has both)
import sys, time, numpy as np, onnxruntime as ort

path, prompt_file, NEW, THREADS = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
RUNS = int(sys.argv[5]) if len(sys.argv) > 5 else 5
prompt = np.load(prompt_file).astype(np.int64).reshape(1, -1)

opts = ort.SessionOptions(); opts.intra_op_num_threads = THREADS; opts.inter_op_num_threads = 1
sess = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
pasts = [i for i in sess.get_inputs() if i.name != "input_ids"]


def generate():
    feed = {"input_ids": prompt, **{p.name: np.zeros((1, p.shape[1], 0, p.shape[3]), np.float32) for p in pasts}}
    start = time.perf_counter(); toks = []
    for i in range(NEW):
        out = sess.run(None, feed)
        toks.append(int(out[0][0, -1].argmax()))
        if i == 0: first = time.perf_counter() - start
        feed = {"input_ids": np.array([[toks[-1]]], np.int64), **{p.name: o for p, o in zip(pasts, out[1:])}}
    return toks, first, time.perf_counter() - start


generate()  # warm-up
runs = [generate() for _ in range(RUNS)]
for toks, first, total in runs:
    print(f"onnxruntime {ort.__version__}, {THREADS} thread(s): time to first token {first * 1e3:.1f} ms, "
          f"{NEW} tokens in {total:.3f} s, {NEW / total:.2f} tokens/s, "
          f"{(total - first) / (NEW - 1) * 1e3:.1f} ms a decoded token")
print("tokens", runs[0][0])
