// Pooling (docs/spec/kernels.md): over the (padded) input Xp, for every
// output (n, c, oh, ow):
//   max:     acc = -inf; for kh, kw (kw fastest): acc = max(acc, Xp[...])
//   average: acc = +0;   for kh, kw: acc = acc + Xp[...];  acc = acc / d
// d is a constant, or read from the divisor table [OH, OW].

// p: PoolParams (dnn/src/gpu/params.rs).
kernel void pool(KERNEL_ARGS) {
    size_t idx = get_global_id(0);
    if (idx >= (size_t)p[P_POOL_COUNT]) return;
    int hp = p[P_POOL_HP], wp = p[P_POOL_WP], oh_n = p[P_POOL_OH], ow_n = p[P_POOL_OW];
    int kh_n = p[P_POOL_KH], kw_n = p[P_POOL_KW];
    int sh = p[P_POOL_SH], sw = p[P_POOL_SW], dh = p[P_POOL_DH], dw = p[P_POOL_DW];
    int is_max = p[P_POOL_IS_MAX];
    int ow = (int)(idx % (size_t)ow_n);
    int oh = (int)((idx / (size_t)ow_n) % (size_t)oh_n);
    size_t plane = idx / ((size_t)ow_n * oh_n);
    global const uint* x = OPERAND(P_POOL_X) + plane * hp * wp;
    uint acc = is_max ? 0xFF800000u : 0u;
    for (int kh = 0; kh < kh_n; kh++) {
        global const uint* row = x + (oh * sh + kh * dh) * wp + ow * sw;
        for (int kw = 0; kw < kw_n; kw++) {
            uint v = row[kw * dw];
            acc = is_max ? f_max(acc, v) : f_add(acc, v);
        }
    }
    if (!is_max) {
        uint d = p[P_POOL_HAS_DIVISORS] ? OPERAND(P_POOL_DIVISORS)[oh * ow_n + ow]
                                        : (uint)p[P_POOL_DIVISOR];
        acc = f_div(acc, d);
    }
    act[p[P_POOL_Y] + idx] = acc;
}
