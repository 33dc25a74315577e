// Gemm and MatMul (docs/spec/kernels.md): for every output (i, j),
//   acc = +0; for k = 0..K-1: acc = fma(A[i,k], B[k,j], acc)
//   if alpha != 1: acc = acc * alpha
//   if C: acc = beta == 1 ? acc + C[i,j] : fma(beta, C[i,j], acc)
// Tiled through local memory and blocked in registers: a work group of
// GEMM_THREADS x GEMM_THREADS work items computes a GEMM_TILE x GEMM_TILE
// block of outputs, GEMM_BLOCK x GEMM_BLOCK per work item (rows ty + 16*r,
// columns tx + 16*c of the block), loading GEMM_TILE x GEMM_K panels of A
// and GEMM_K x GEMM_TILE panels of B. Each output keeps its own fma chain
// over k in increasing order, never past K (no padding term enters a
// chain). The chain needs no NaN canonicalisation until it ends: a NaN
// stays a NaN through fma, and only its final bits are observed.

// GEMM_THREADS, GEMM_BLOCK, GEMM_TILE and GEMM_K come from the launch
// plans (dnn/src/gpu/launch.rs), which size the work groups with them.

// The end of output (i, j)'s computation, its chain's sum in acc: alpha,
// then C.
void gemm_store(global uint* act, global const uint* wts, global const int* p,
                int i, int j, float acc) {
    uint y = canon(acc);
    if (p[P_GEMM_HAS_ALPHA]) y = f_mul(y, (uint)p[P_GEMM_ALPHA]);
    if (p[P_GEMM_HAS_C]) {
        uint cv = OPERAND(P_GEMM_C)[i * p[P_GEMM_C_STRIDE_I] + j * p[P_GEMM_C_STRIDE_J]];
        y = p[P_GEMM_UNIT_BETA] ? f_add(y, cv) : f_fma((uint)p[P_GEMM_BETA], cv, y);
    }
    act[p[P_GEMM_Y] + i * p[P_GEMM_N] + j] = y;
}

// p: GemmParams (dnn/src/gpu/params.rs). Global size: (ceil(N / GEMM_TILE),
// ceil(M / GEMM_TILE)) work groups of (GEMM_THREADS, GEMM_THREADS).
kernel __attribute__((reqd_work_group_size(GEMM_THREADS, GEMM_THREADS, 1)))
void gemm(KERNEL_ARGS) {
    local float a_tile[GEMM_TILE][GEMM_K + 1];
    local float b_tile[GEMM_K][GEMM_TILE + 1];
    int tx = get_local_id(0), ty = get_local_id(1);
    int col0 = get_group_id(0) * GEMM_TILE, row0 = get_group_id(1) * GEMM_TILE;
    int m = p[P_GEMM_M], n = p[P_GEMM_N], k = p[P_GEMM_K];
    int a_si = p[P_GEMM_A_STRIDE_I], a_sk = p[P_GEMM_A_STRIDE_K];
    int b_sk = p[P_GEMM_B_STRIDE_K], b_sj = p[P_GEMM_B_STRIDE_J];
    global const uint* a = OPERAND(P_GEMM_A);
    global const uint* b = OPERAND(P_GEMM_B);
    int flat = ty * GEMM_THREADS + tx;
    float acc[GEMM_BLOCK][GEMM_BLOCK];
    for (int r = 0; r < GEMM_BLOCK; r++)
        for (int c = 0; c < GEMM_BLOCK; c++) acc[r][c] = 0.0f;
    for (int t = 0; t < k; t += GEMM_K) {
        // GEMM_TILE * GEMM_K elements of each panel, GEMM_BLOCK per item.
        for (int e = flat; e < GEMM_TILE * GEMM_K; e += GEMM_THREADS * GEMM_THREADS) {
            int ar = e / GEMM_K, ak = e % GEMM_K;
            int i = row0 + ar, kk = t + ak;
            a_tile[ar][ak] = (i < m && kk < k) ? as_float(a[i * a_si + kk * a_sk]) : 0.0f;
            int bk = e / GEMM_TILE, bc = e % GEMM_TILE;
            int j = col0 + bc, kb = t + bk;
            b_tile[bk][bc] = (kb < k && j < n) ? as_float(b[kb * b_sk + j * b_sj]) : 0.0f;
        }
        barrier(CLK_LOCAL_MEM_FENCE);
        int len = min(GEMM_K, k - t);
        for (int u = 0; u < len; u++) {
            float av[GEMM_BLOCK], bv[GEMM_BLOCK];
            for (int r = 0; r < GEMM_BLOCK; r++) av[r] = a_tile[ty + GEMM_THREADS * r][u];
            for (int c = 0; c < GEMM_BLOCK; c++) bv[c] = b_tile[u][tx + GEMM_THREADS * c];
            for (int r = 0; r < GEMM_BLOCK; r++)
                for (int c = 0; c < GEMM_BLOCK; c++) acc[r][c] = fma(av[r], bv[c], acc[r][c]);
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    for (int r = 0; r < GEMM_BLOCK; r++) {
        int i = row0 + ty + GEMM_THREADS * r;
        for (int c = 0; c < GEMM_BLOCK; c++) {
            int j = col0 + tx + GEMM_THREADS * c;
            if (i < m && j < n) gemm_store(act, wts, p, i, j, acc[r][c]);
        }
    }
}

// The same products for outputs with few rows (a batch-1 layer is a
// matrix-vector product): one output per work item, THIN_TILE x THIN_TILE
// panels of A and B through local memory; same parameters, global size
// (N, M) rounded up to the tile.
#define THIN_TILE 16

// p: GemmParams (dnn/src/gpu/params.rs).
kernel __attribute__((reqd_work_group_size(THIN_TILE, THIN_TILE, 1)))
void gemm_thin(KERNEL_ARGS) {
    local float a_tile[THIN_TILE][THIN_TILE];
    local float b_tile[THIN_TILE][THIN_TILE + 1];
    int j = get_global_id(0), i = get_global_id(1);
    int lj = get_local_id(0), li = get_local_id(1);
    int m = p[P_GEMM_M], n = p[P_GEMM_N], k = p[P_GEMM_K];
    int a_si = p[P_GEMM_A_STRIDE_I], a_sk = p[P_GEMM_A_STRIDE_K];
    int b_sk = p[P_GEMM_B_STRIDE_K], b_sj = p[P_GEMM_B_STRIDE_J];
    global const uint* a = OPERAND(P_GEMM_A);
    global const uint* b = OPERAND(P_GEMM_B);
    float acc = 0.0f;
    for (int t = 0; t < k; t += THIN_TILE) {
        int ka = t + lj, kb = t + li;
        a_tile[li][lj] = (i < m && ka < k) ? as_float(a[i * a_si + ka * a_sk]) : 0.0f;
        b_tile[li][lj] = (kb < k && j < n) ? as_float(b[kb * b_sk + j * b_sj]) : 0.0f;
        barrier(CLK_LOCAL_MEM_FENCE);
        int len = min(THIN_TILE, k - t);
        for (int u = 0; u < len; u++) {
            acc = fma(a_tile[li][u], b_tile[u][lj], acc);
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (i < m && j < n) gemm_store(act, wts, p, i, j, acc);
}
