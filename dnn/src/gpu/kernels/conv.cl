// Conv (docs/spec/kernels.md): over the (padded) input Xp, for every output
// (n, oc, oh, ow), g = oc / (OC/G):
//   acc = +0
//   for ic, kh, kw (kw fastest):
//       acc = fma(Xp[n, g*C/G + ic, oh*sh + kh*dh, ow*sw + kw*dw], W[oc, ic, kh, kw], acc)
//   if B: acc = acc + B[oc]
//   if relu: acc = max(acc, +0)
// The padded copy is made beforehand by copy_strided.
//
// Tiled through local memory as the GEMM is: within one (n, g), the
// products are W[oc, r] * P[r, pixel] with r = (ic, kh, kw) flattened in
// chain order and P the input patch (an im2col read on the fly). A work
// group loads CONV_TILE x CONV_TILE panels of W and P; each work item runs
// its own fma chain over r in increasing order, never past R (no padding
// term enters a chain).

// CONV_TILE comes from the launch plans (dnn/src/gpu/launch.rs).

// p: ConvParams (dnn/src/gpu/params.rs). Global size: (OH*OW, OC/G, N*G),
// rounded up to the tile; local size (CONV_TILE, CONV_TILE, 1).
kernel __attribute__((reqd_work_group_size(CONV_TILE, CONV_TILE, 1)))
void conv(KERNEL_ARGS) {
    local float w_tile[CONV_TILE][CONV_TILE];
    local float x_tile[CONV_TILE][CONV_TILE + 1];
    int c = p[P_CONV_C], hp = p[P_CONV_HP], wp = p[P_CONV_WP];
    int oc_n = p[P_CONV_OC], g_n = p[P_CONV_G];
    int kh_n = p[P_CONV_KH], kw_n = p[P_CONV_KW], oh_n = p[P_CONV_OH], ow_n = p[P_CONV_OW];
    int sh = p[P_CONV_SH], sw = p[P_CONV_SW], dh = p[P_CONV_DH], dw = p[P_CONV_DW];
    int pixels = oh_n * ow_n, cg = c / g_n, ocg = oc_n / g_n;
    int r_n = cg * kh_n * kw_n, taps = kh_n * kw_n;
    int px = get_global_id(0), o = get_global_id(1);
    int lx = get_local_id(0), lo = get_local_id(1);
    int n = get_global_id(2) / g_n, g = get_global_id(2) % g_n;
    global const uint* x = OPERAND(P_CONV_X) + (size_t)(n * c + g * cg) * hp * wp;
    global const uint* w = OPERAND(P_CONV_W) + (size_t)(g * ocg) * r_n;
    // The work item that loads P[t + lo, px] reads this pixel's patch.
    int oh = px / ow_n, ow = px % ow_n;
    // The work item that loads W[group row, t + lx] reads this row.
    int w_row = get_group_id(1) * CONV_TILE + lo;
    float acc = 0.0f;
    for (int t = 0; t < r_n; t += CONV_TILE) {
        int rw = t + lx, rx = t + lo;
        w_tile[lo][lx] = (w_row < ocg && rw < r_n) ? as_float(w[w_row * r_n + rw]) : 0.0f;
        float v = 0.0f;
        if (px < pixels && rx < r_n) {
            int ic = rx / taps, tap = rx % taps;
            int kh = tap / kw_n, kw = tap % kw_n;
            v = as_float(x[(ic * hp + oh * sh + kh * dh) * wp + ow * sw + kw * dw]);
        }
        x_tile[lo][lx] = v;
        barrier(CLK_LOCAL_MEM_FENCE);
        int len = min(CONV_TILE, r_n - t);
        for (int u = 0; u < len; u++) {
            acc = fma(x_tile[u][lx], w_tile[lo][u], acc);
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (px >= pixels || o >= ocg) return;
    int oc = g * ocg + o;
    uint y = canon(acc);
    if (p[P_CONV_HAS_B]) y = f_add(y, OPERAND(P_CONV_B)[oc]);
    if (p[P_CONV_RELU]) y = f_max(y, 0u);
    act[p[P_CONV_Y] + (size_t)(n * oc_n + oc) * pixels + px] = y;
}
