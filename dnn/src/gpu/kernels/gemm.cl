// Gemm and MatMul (docs/spec/kernels.md): for every output (i, j),
//   acc = +0; for k = 0..K-1: acc = fma(A[i,k], B[k,j], acc)
//   if alpha != 1: acc = acc * alpha
//   if C: acc = beta == 1 ? acc + C[i,j] : fma(beta, C[i,j], acc)
// Tiled through local memory: a work group loads GEMM_TILE x GEMM_TILE
// panels of A and B, and each work item runs its own fma chain over the
// panel in increasing k, never past K (no padding term enters a chain).
// The chain needs no NaN canonicalisation until it ends: a NaN stays a NaN
// through fma, and only its final bits are observed.

#define GEMM_TILE 16

// p: A (2), B (2), C (2), y offset, M, N, K, A strides (row, k),
// B strides (k, column), C strides (row, column), has C, alpha != 1, alpha,
// beta == 1, beta.
kernel __attribute__((reqd_work_group_size(GEMM_TILE, GEMM_TILE, 1)))
void gemm(KERNEL_ARGS) {
    local float a_tile[GEMM_TILE][GEMM_TILE];
    local float b_tile[GEMM_TILE][GEMM_TILE + 1];
    int j = get_global_id(0), i = get_global_id(1);
    int lj = get_local_id(0), li = get_local_id(1);
    int m = p[7], n = p[8], k = p[9];
    global const uint* a = OPERAND(0);
    global const uint* b = OPERAND(2);
    float acc = 0.0f;
    for (int t = 0; t < k; t += GEMM_TILE) {
        int ka = t + lj, kb = t + li;
        a_tile[li][lj] = (i < m && ka < k) ? as_float(a[i * p[10] + ka * p[11]]) : 0.0f;
        b_tile[li][lj] = (kb < k && j < n) ? as_float(b[kb * p[12] + j * p[13]]) : 0.0f;
        barrier(CLK_LOCAL_MEM_FENCE);
        int len = min(GEMM_TILE, k - t);
        for (int u = 0; u < len; u++) {
            acc = fma(a_tile[li][u], b_tile[u][lj], acc);
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (i >= m || j >= n) return;
    uint y = canon(acc);
    if (p[17]) y = f_mul(y, (uint)p[18]);
    if (p[16]) {
        global const uint* c = OPERAND(4);
        uint cv = c[i * p[14] + j * p[15]];
        y = p[19] ? f_add(y, cv) : f_fma((uint)p[20], cv, y);
    }
    act[p[6] + i * n + j] = y;
}
