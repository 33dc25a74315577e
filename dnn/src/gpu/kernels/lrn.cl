// LRN (docs/spec/kernels.md): one work item per element (n, c, i), the
// window c - (size-1)/2 ..= c + size/2 clipped to the channels:
//   s = +0; for c' in the window: s = s + x[n,c',i] * x[n,c',i]
//   t = k * s; t = bias + t; y = x[n,c,i] / pow(t, beta)     k = alpha / size

// p: LrnParams (dnn/src/gpu/params.rs).
kernel void lrn(KERNEL_ARGS) {
    size_t idx = get_global_id(0);
    if (idx >= (size_t)p[P_LRN_COUNT]) return;
    int channels = p[P_LRN_CHANNELS], inner = p[P_LRN_INNER], size = p[P_LRN_SIZE];
    int i = (int)(idx % (size_t)inner);
    int c = (int)((idx / (size_t)inner) % (size_t)channels);
    size_t n = idx / ((size_t)inner * channels);
    global const uint* x = OPERAND(P_LRN_X) + n * channels * inner + i;
    int lo = max(c - (size - 1) / 2, 0), hi = min(c + size / 2, channels - 1);
    uint s = 0u;
    for (int w = lo; w <= hi; w++) {
        uint v = x[w * inner];
        s = f_add(s, f_mul(v, v));
    }
    uint t = f_add((uint)p[P_LRN_BIAS], f_mul((uint)p[P_LRN_K], s));
    act[p[P_LRN_Y] + idx] = f_div(x[c * inner], binary_apply(BINARY_POW, t, (uint)p[P_LRN_BETA]));
}
