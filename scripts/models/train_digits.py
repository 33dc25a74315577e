#!/usr/bin/env python3
"""Trains the two demo models on scikit-learn's bundled digits (8x8, offline)
and exports them as plain ONNX (standard ops only).

    .venv/bin/python scripts/models/train_digits.py

Writes models/digits_mlp.onnx (64-32-10: Gemm, Relu, Gemm, Softmax),
models/digits_cnn.onnx (1x1x8x8: Conv, Relu, MaxPool, Reshape, Gemm,
Softmax) and models/samples.json (16 test inputs with their labels, each
model's numpy predictions for them, and the test accuracies).
Training is plain numpy with a fixed seed, so a re-run gives the same files.
"""

import json
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "models"
SEED = 7


def data():
    d = load_digits()
    x = (d.data / 16.0).astype(np.float32)
    return train_test_split(x, d.target, test_size=0.25, random_state=SEED)


def softmax(z):
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def train_mlp(x, y, epochs=200, lr=0.1, batch=32):
    rng = np.random.default_rng(SEED)
    w1 = rng.normal(0, np.sqrt(2 / 64), (64, 32)).astype(np.float32)
    b1 = np.zeros(32, np.float32)
    w2 = rng.normal(0, np.sqrt(2 / 32), (32, 10)).astype(np.float32)
    b2 = np.zeros(10, np.float32)
    onehot = np.eye(10, dtype=np.float32)[y]
    for _ in range(epochs):
        order = rng.permutation(len(x))
        for i in range(0, len(x), batch):
            idx = order[i : i + batch]
            xb, tb = x[idx], onehot[idx]
            h = np.maximum(xb @ w1 + b1, 0)
            p = softmax(h @ w2 + b2)
            g2 = (p - tb) / len(idx)
            gh = (g2 @ w2.T) * (h > 0)
            w2 -= lr * h.T @ g2
            b2 -= lr * g2.sum(0)
            w1 -= lr * xb.T @ gh
            b1 -= lr * gh.sum(0)
    return w1, b1, w2, b2


def mlp_predict(params, x):
    w1, b1, w2, b2 = params
    return np.argmax(np.maximum(x @ w1 + b1, 0) @ w2 + b2, axis=1)


def im2col(x, k=3):
    """[N, 1, 8, 8] with pad 1 -> [N, 64, 9] patches."""
    n = x.shape[0]
    xp = np.pad(x[:, 0], ((0, 0), (1, 1), (1, 1)))
    cols = np.empty((n, 64, k * k), np.float32)
    for i in range(8):
        for j in range(8):
            cols[:, i * 8 + j] = xp[:, i : i + k, j : j + k].reshape(n, -1)
    return cols


def cnn_forward(params, x):
    wc, bc, wf, bf = params
    cols = im2col(x)  # [N, 64, 9]
    conv = cols @ wc.reshape(8, 9).T + bc  # [N, 64, 8]
    act = np.maximum(conv, 0).reshape(-1, 8, 8, 8)  # [N, H, W, C]
    pooled = act.reshape(-1, 4, 2, 4, 2, 8).max(axis=(2, 4))  # [N, 4, 4, C]
    flat = pooled.transpose(0, 3, 1, 2).reshape(len(x), -1)  # NCHW order
    return cols, conv, act, pooled, flat, flat @ wf + bf


def train_cnn(x, y, epochs=100, lr=0.05, batch=32):
    rng = np.random.default_rng(SEED)
    wc = rng.normal(0, np.sqrt(2 / 9), (8, 1, 3, 3)).astype(np.float32)
    bc = np.zeros(8, np.float32)
    wf = rng.normal(0, np.sqrt(2 / 128), (128, 10)).astype(np.float32)
    bf = np.zeros(10, np.float32)
    onehot = np.eye(10, dtype=np.float32)[y]
    for _ in range(epochs):
        order = rng.permutation(len(x))
        for i in range(0, len(x), batch):
            idx = order[i : i + batch]
            xb, tb = x[idx], onehot[idx]
            n = len(idx)
            cols, conv, act, pooled, flat, logits = cnn_forward((wc, bc, wf, bf), xb)
            g = (softmax(logits) - tb) / n
            gwf, gbf = flat.T @ g, g.sum(0)
            gflat = g @ wf.T
            gpool = gflat.reshape(n, 8, 4, 4).transpose(0, 2, 3, 1)  # [N, 4, 4, C]
            blocks = act.reshape(n, 4, 2, 4, 2, 8)
            mask = blocks == pooled[:, :, None, :, None, :]
            gact = (mask * gpool[:, :, None, :, None, :]).reshape(n, 8, 8, 8)
            gconv = gact.reshape(n, 64, 8) * (conv > 0)
            gwc = np.einsum("npk,npc->ck", cols, gconv).reshape(8, 1, 3, 3)
            gbc = gconv.sum((0, 1))
            wc -= lr * gwc
            bc -= lr * gbc
            wf -= lr * gwf
            bf -= lr * gbf
    return wc, bc, wf, bf


def save(graph, name):
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, OUT / name)


def export_mlp(params):
    w1, b1, w2, b2 = params
    inits = [numpy_helper.from_array(a, n) for a, n in zip(params, ["w1", "b1", "w2", "b2"])]
    nodes = [
        helper.make_node("Gemm", ["x", "w1", "b1"], ["h"]),
        helper.make_node("Relu", ["h"], ["a"]),
        helper.make_node("Gemm", ["a", "w2", "b2"], ["logits"]),
        helper.make_node("Softmax", ["logits"], ["probs"], axis=1),
    ]
    graph = helper.make_graph(
        nodes,
        "digits_mlp",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 64])],
        [helper.make_tensor_value_info("probs", TensorProto.FLOAT, [1, 10])],
        inits,
    )
    save(graph, "digits_mlp.onnx")


def export_cnn(params):
    wc, bc, wf, bf = params
    shape = np.array([1, 128], np.int64)
    inits = [
        numpy_helper.from_array(wc, "wc"),
        numpy_helper.from_array(bc, "bc"),
        numpy_helper.from_array(shape, "shape"),
        numpy_helper.from_array(wf, "wf"),
        numpy_helper.from_array(bf, "bf"),
    ]
    nodes = [
        helper.make_node("Conv", ["x", "wc", "bc"], ["c"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c"], ["r"]),
        helper.make_node("MaxPool", ["r"], ["p"], kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Reshape", ["p", "shape"], ["f"]),
        helper.make_node("Gemm", ["f", "wf", "bf"], ["logits"]),
        helper.make_node("Softmax", ["logits"], ["probs"], axis=1),
    ]
    graph = helper.make_graph(
        nodes,
        "digits_cnn",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 8, 8])],
        [helper.make_tensor_value_info("probs", TensorProto.FLOAT, [1, 10])],
        inits,
    )
    save(graph, "digits_cnn.onnx")


def main():
    OUT.mkdir(exist_ok=True)
    x_train, x_test, y_train, y_test = data()
    mlp = train_mlp(x_train, y_train)
    mlp_acc = float((mlp_predict(mlp, x_test) == y_test).mean())
    img_train, img_test = x_train.reshape(-1, 1, 8, 8), x_test.reshape(-1, 1, 8, 8)
    cnn = train_cnn(img_train, y_train)
    cnn_acc = float((np.argmax(cnn_forward(cnn, img_test)[-1], axis=1) == y_test).mean())
    export_mlp(mlp)
    export_cnn(cnn)
    mlp_pred = mlp_predict(mlp, x_test[:16])
    cnn_pred = np.argmax(cnn_forward(cnn, img_test[:16])[-1], axis=1)
    samples = {
        "description": "digits test-split samples: 64 values in [0, 1] (8x8 row-major), label",
        "test_accuracy": {"digits_mlp": mlp_acc, "digits_cnn": cnn_acc},
        "test_size": int(len(y_test)),
        "predictions": {
            "digits_mlp": [int(p) for p in mlp_pred],
            "digits_cnn": [int(p) for p in cnn_pred],
        },
        "samples": [
            {"input": [round(float(v), 4) for v in x_test[i]], "label": int(y_test[i])}
            for i in range(16)
        ],
    }
    (OUT / "samples.json").write_text(json.dumps(samples, indent=1) + "\n")
    print(f"digits_mlp test accuracy {mlp_acc:.4f}, digits_cnn test accuracy {cnn_acc:.4f}")


if __name__ == "__main__":
    main()
