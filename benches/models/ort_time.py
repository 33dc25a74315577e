# Times onnxruntime's inference of one ONNX model, the anchor of verdict-benches' whole-model
# figures: one session (CPU, `intra_op_num_threads` THREADS, sequential), a warm-up, then RUNS
# timed `run` calls inside Python (no start-up); prints the median in milliseconds and writes
# the first output to OUT.npy for the benchmark to compare with the native engine's.
#
# usage: python ort_time.py MODEL.onnx THREADS RUNS OUT.npy INPUT.npy...
#        (one .npy per graph input, in the graph's order; each is cast to the input's type.
#        Needs numpy and onnxruntime: the .venv the tests install has both)
import sys, time, numpy as np, onnxruntime as ort

path, threads, runs, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
files = sys.argv[5:]
opts = ort.SessionOptions()
opts.intra_op_num_threads = threads
opts.inter_op_num_threads = 1
opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
sess = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
inputs = sess.get_inputs()
if len(inputs) != len(files):
    sys.exit(f"{path} has {len(inputs)} inputs; {len(files)} files given")
types = {"tensor(float)": np.float32, "tensor(int64)": np.int64, "tensor(int32)": np.int32,
         "tensor(bool)": np.bool_, "tensor(uint8)": np.uint8}
feed = {}
for i, f in zip(inputs, files):
    if i.type not in types:
        sys.exit(f"input {i.name} has type {i.type}, which this script does not feed")
    feed[i.name] = np.load(f).astype(types[i.type])
first = sess.run(None, feed)[0]
times = []
for _ in range(runs):
    start = time.perf_counter()
    sess.run(None, feed)
    times.append(time.perf_counter() - start)
np.save(out, np.asarray(first, np.float32))
print(f"{sorted(times)[len(times) // 2] * 1e3:.4f}")
