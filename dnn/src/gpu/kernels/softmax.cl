// Softmax and LogSoftmax (docs/spec/kernels.md): one work item per row,
// x_j in axis order:
//   m = -inf; for j: m = max(m, x_j)
//   s = +0;   for j: e_j = exp(x_j - m); s = s + e_j   (Softmax stores e_j)
//   Softmax:    for j: y_j = y_j / s
//   LogSoftmax: l = log(s); for j: y_j = (x_j - m) - l

// p: SoftmaxParams (dnn/src/gpu/params.rs).
kernel void softmax(KERNEL_ARGS) {
    size_t row = get_global_id(0);
    if (row >= (size_t)p[P_SOFTMAX_ROWS]) return;
    int len = p[P_SOFTMAX_LEN], inner = p[P_SOFTMAX_INNER], is_log = p[P_SOFTMAX_LOG];
    size_t o = row / (size_t)inner, i = row % (size_t)inner;
    size_t base = o * len * inner + i;
    global const uint* x = OPERAND(P_SOFTMAX_X) + base;
    global uint* y = act + p[P_SOFTMAX_Y] + base;
    uint m = 0xFF800000u;
    for (int j = 0; j < len; j++) m = f_max(m, x[j * inner]);
    uint s = 0u;
    for (int j = 0; j < len; j++) {
        uint e = recipe_exp(f_sub(x[j * inner], m));
        if (!is_log) y[j * inner] = e;
        s = f_add(s, e);
    }
    if (is_log) {
        uint l = recipe_log(s);
        for (int j = 0; j < len; j++) y[j * inner] = f_sub(f_sub(x[j * inner], m), l);
    } else {
        for (int j = 0; j < len; j++) y[j * inner] = f_div(y[j * inner], s);
    }
}
