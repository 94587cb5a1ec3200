// winograd.c: F(2x2, 3x3) Winograd convolution for 3x3 stride-1 padding-1 layers, the
// twelve convolutions that carry 76% of ResNet-18's FLOPs. 2.25x fewer multiplies than
// im2col + gemm; float32 error stays near 1e-6 relative (the transforms only use 1 and 1/2).
//
// Each 2x2 block of outputs is computed from a 4x4 input tile d (tiles overlap by 2):
//   Y = A^T [ U ⊙ V ] A,   U = G g G^T (per weight 3x3 g),   V = B^T d B
//   B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1],  G = [1 0 0; .5 .5 .5; .5 -.5 .5; 0 0 1],
//   A^T = [1 1 1 0; 0 1 -1 -1].
// Summing over input channels makes each of the 16 positions xi of the 4x4 a gemm:
//   M[xi] (OC, tiles) = U[xi] (OC, C) @ V[xi] (C, tiles).
// Backward is the adjoint of that linear chain (exact gradients of the same function):
//   dM = A dY A^T,  dV[xi] = U[xi]^T @ dM[xi],  dx += B dV B^T (overlapping tiles add),
//   dU[xi] = sum over tiles dM[xi] @ V[xi]^T,   dw += G^T dU G (or dw = G^T dU G).
// Tiles are processed in chunks of images so that V and M stay a few tens of MB; the
// transforms split over threads by channel, the 16 gemms use OpenBLAS's threads.
#include "winograd.h"

#include <cblas.h>
#include <string.h>

#include "conv_gemm.h"
#include "parallel.h"

#define CHUNK_FLOATS ((long)4 << 20)  // V or M of one chunk, at most (16 MB)
#define CHUNK_TILES 768                 // enough tiles for wide gemms; more only costs cache

bool tg_winograd_fits(const tg_conv_geom *g) {
    return g->KH == 3 && g->KW == 3 && g->stride == 1 && g->pad == 1;
}

long tg_winograd_tiles(const tg_conv_geom *g, int N) {
    return (long)N * ((g->OH + 1) / 2) * ((g->OW + 1) / 2);
}

typedef struct {
    const tg_conv_geom *g;
    int C, OC, TH, TW;
    long nt;            // tiles in this chunk (ni images)
    int ni;
    const float *x;     // first image of the chunk (ni, C, H, W)
    float *dx;          // same, gradient
    float *out;         // first image of the chunk (ni, OC, OH, OW)
    const float *dout;  // same, gradient
    float *V;           // (16, C, nt)
    float *M;           // (16, OC, nt)
    const float *w;     // (OC, C, 3, 3)
    float *dw;
    bool dw_acc;        // add into dw (else store)
    float *U;           // (16, OC, C)
} wg_job;

// The tile transforms work on a row of up to TB tiles at once: first along the height
// on whole image rows, then along the width on even/odd columns, so that every inner loop
// runs over consecutive tiles (contiguous in V and M) and vectorizes.
#define TB 64

// ---- input transform: V = B^T d B, channels [c0, c1) ----
static void input_task(void *arg, int64_t c0, int64_t c1) {
    const wg_job *j = arg;
    const int H = j->g->H, W = j->g->W, C = j->C;
    const long nt = j->nt, xs = (long)C * nt;  // xs: stride between positions xi
    float seg[4][2 * TB + 2], s[4][2 * TB + 2], E[TB + 1], O[TB + 1];
    for (int64_t c = c0; c < c1; c++)
        for (int i = 0; i < j->ni; i++) {
            const float *xc = j->x + ((int64_t)i * C + c) * H * W;
            for (int th = 0; th < j->TH; th++)
                for (int tw0 = 0; tw0 < j->TW; tw0 += TB) {
                    const int nb = j->TW - tw0 < TB ? j->TW - tw0 : TB, len = 2 * nb + 2;
                    const int w0 = 2 * tw0 - 1;
                    for (int r = 0; r < 4; r++) {  // input rows 2th-1+r, columns w0.., zero-padded
                        const int ih = 2 * th - 1 + r;
                        if (ih < 0 || ih >= H) {
                            memset(seg[r], 0, (size_t)len * sizeof(float));
                            continue;
                        }
                        const int k0 = w0 < 0 ? -w0 : 0, k1 = W - w0 < len ? W - w0 : len;
                        for (int k = 0; k < k0; k++) seg[r][k] = 0.0f;
                        memcpy(seg[r] + k0, xc + ih * W + w0 + k0, (size_t)(k1 - k0) * sizeof(float));
                        for (int k = k1; k < len; k++) seg[r][k] = 0.0f;
                    }
                    for (int k = 0; k < len; k++) {  // along the height: B^T d
                        s[0][k] = seg[0][k] - seg[2][k];
                        s[1][k] = seg[1][k] + seg[2][k];
                        s[2][k] = seg[2][k] - seg[1][k];
                        s[3][k] = seg[1][k] - seg[3][k];
                    }
                    float *v = j->V + c * nt + ((long)i * j->TH + th) * j->TW + tw0;
                    for (int r = 0; r < 4; r++) {  // along the width: (B^T d) B
                        for (int k = 0; k <= nb; k++) {
                            E[k] = s[r][2 * k];
                            O[k] = s[r][2 * k + 1];
                        }
                        float *v0 = v + (r * 4 + 0) * xs, *v1 = v + (r * 4 + 1) * xs,
                              *v2 = v + (r * 4 + 2) * xs, *v3 = v + (r * 4 + 3) * xs;
                        for (int k = 0; k < nb; k++) {
                            v0[k] = E[k] - E[k + 1];
                            v1[k] = O[k] + E[k + 1];
                            v2[k] = E[k + 1] - O[k];
                            v3[k] = O[k] - O[k + 1];
                        }
                    }
                }
        }
}

// ---- output transform: Y = A^T m A, output channels [o0, o1) ----
static void output_task(void *arg, int64_t o0, int64_t o1) {
    const wg_job *j = arg;
    const int OH = j->g->OH, OW = j->g->OW, OC = j->OC;
    const long nt = j->nt, xs = (long)OC * nt;
    float a[4][TB], b[4][TB], ye[TB], yo[TB];
    for (int64_t oc = o0; oc < o1; oc++)
        for (int i = 0; i < j->ni; i++) {
            float *yc = j->out + ((int64_t)i * OC + oc) * OH * OW;
            for (int th = 0; th < j->TH; th++)
                for (int tw0 = 0; tw0 < j->TW; tw0 += TB) {
                    const int nb = j->TW - tw0 < TB ? j->TW - tw0 : TB;
                    const float *m = j->M + oc * nt + ((long)i * j->TH + th) * j->TW + tw0;
                    for (int q = 0; q < 4; q++) {  // along the height: A^T m
                        const float *m0 = m + (0 * 4 + q) * xs, *m1 = m + (1 * 4 + q) * xs,
                                    *m2 = m + (2 * 4 + q) * xs, *m3 = m + (3 * 4 + q) * xs;
                        for (int k = 0; k < nb; k++) {
                            a[q][k] = m0[k] + m1[k] + m2[k];
                            b[q][k] = m1[k] - m2[k] - m3[k];
                        }
                    }
                    for (int h = 0; h < 2; h++) {  // along the width, output row 2th+h
                        const int oh = 2 * th + h;
                        if (oh >= OH) break;
                        float (*z)[TB] = h ? b : a;
                        for (int k = 0; k < nb; k++) {
                            ye[k] = z[0][k] + z[1][k] + z[2][k];
                            yo[k] = z[1][k] - z[2][k] - z[3][k];
                        }
                        float *row = yc + oh * OW + 2 * tw0;
                        const int ncol = OW - 2 * tw0 < 2 * nb ? OW - 2 * tw0 : 2 * nb;
                        for (int k = 0; 2 * k + 1 < ncol; k++) {
                            row[2 * k] = ye[k];
                            row[2 * k + 1] = yo[k];
                        }
                        if (ncol % 2) row[ncol - 1] = ye[ncol / 2];
                    }
                }
        }
}

// ---- gradient of the output transform: dM = A dY A^T, output channels [o0, o1) ----
static void doutput_task(void *arg, int64_t o0, int64_t o1) {
    const wg_job *j = arg;
    const int OH = j->g->OH, OW = j->g->OW, OC = j->OC;
    const long nt = j->nt, xs = (long)OC * nt;
    float e[2][2][TB];  // [row][even/odd column][tile]
    float A[4][TB], B[4][TB];
    for (int64_t oc = o0; oc < o1; oc++)
        for (int i = 0; i < j->ni; i++) {
            const float *dy = j->dout + ((int64_t)i * OC + oc) * OH * OW;
            for (int th = 0; th < j->TH; th++)
                for (int tw0 = 0; tw0 < j->TW; tw0 += TB) {
                    const int nb = j->TW - tw0 < TB ? j->TW - tw0 : TB;
                    for (int h = 0; h < 2; h++) {
                        const int oh = 2 * th + h;
                        for (int k = 0; k < nb; k++) {
                            const int ow = 2 * (tw0 + k);
                            e[h][0][k] = oh < OH && ow < OW ? dy[oh * OW + ow] : 0.0f;
                            e[h][1][k] = oh < OH && ow + 1 < OW ? dy[oh * OW + ow + 1] : 0.0f;
                        }
                    }
                    for (int k = 0; k < nb; k++) {  // along the height: A dY
                        A[0][k] = e[0][0][k];
                        B[0][k] = e[0][1][k];
                        A[1][k] = e[0][0][k] + e[1][0][k];
                        B[1][k] = e[0][1][k] + e[1][1][k];
                        A[2][k] = e[0][0][k] - e[1][0][k];
                        B[2][k] = e[0][1][k] - e[1][1][k];
                        A[3][k] = -e[1][0][k];
                        B[3][k] = -e[1][1][k];
                    }
                    float *m = j->M + oc * nt + ((long)i * j->TH + th) * j->TW + tw0;
                    for (int r = 0; r < 4; r++) {  // along the width: (A dY) A^T
                        float *m0 = m + (r * 4 + 0) * xs, *m1 = m + (r * 4 + 1) * xs,
                              *m2 = m + (r * 4 + 2) * xs, *m3 = m + (r * 4 + 3) * xs;
                        for (int k = 0; k < nb; k++) {
                            m0[k] = A[r][k];
                            m1[k] = A[r][k] + B[r][k];
                            m2[k] = A[r][k] - B[r][k];
                            m3[k] = -B[r][k];
                        }
                    }
                }
        }
}

// ---- gradient of the input transform: dx += B dV B^T, channels [c0, c1) ----
static void dinput_task(void *arg, int64_t c0, int64_t c1) {
    const wg_job *j = arg;
    const int H = j->g->H, W = j->g->W, C = j->C;
    const long nt = j->nt, xs = (long)C * nt;
    float S[4][4][TB], dd[4][TB], acc[2 * TB + 2];
    for (int64_t c = c0; c < c1; c++)
        for (int i = 0; i < j->ni; i++) {
            float *dxc = j->dx + ((int64_t)i * C + c) * H * W;
            for (int th = 0; th < j->TH; th++)
                for (int tw0 = 0; tw0 < j->TW; tw0 += TB) {
                    const int nb = j->TW - tw0 < TB ? j->TW - tw0 : TB, len = 2 * nb + 2;
                    const float *v = j->V + c * nt + ((long)i * j->TH + th) * j->TW + tw0;
                    for (int q = 0; q < 4; q++) {  // along the height: B dV
                        const float *v0 = v + (0 * 4 + q) * xs, *v1 = v + (1 * 4 + q) * xs,
                                    *v2 = v + (2 * 4 + q) * xs, *v3 = v + (3 * 4 + q) * xs;
                        for (int k = 0; k < nb; k++) {
                            S[0][q][k] = v0[k];
                            S[1][q][k] = v1[k] - v2[k] + v3[k];
                            S[2][q][k] = -v0[k] + v1[k] + v2[k];
                            S[3][q][k] = -v3[k];
                        }
                    }
                    for (int r = 0; r < 4; r++) {  // along the width: (B dV) B^T, overlap-add
                        const int ih = 2 * th - 1 + r;
                        if (ih < 0 || ih >= H) continue;
                        for (int k = 0; k < nb; k++) {
                            dd[0][k] = S[r][0][k];
                            dd[1][k] = S[r][1][k] - S[r][2][k] + S[r][3][k];
                            dd[2][k] = -S[r][0][k] + S[r][1][k] + S[r][2][k];
                            dd[3][k] = -S[r][3][k];
                        }
                        acc[0] = dd[0][0];
                        acc[1] = dd[1][0];
                        for (int k = 1; k < nb; k++) {
                            acc[2 * k] = dd[0][k] + dd[2][k - 1];
                            acc[2 * k + 1] = dd[1][k] + dd[3][k - 1];
                        }
                        acc[2 * nb] = dd[2][nb - 1];
                        acc[2 * nb + 1] = dd[3][nb - 1];
                        const int w0 = 2 * tw0 - 1;
                        float *row = dxc + ih * W;
                        const int k0 = w0 < 0 ? -w0 : 0, k1 = W - w0 < len ? W - w0 : len;
                        for (int k = k0; k < k1; k++) row[w0 + k] += acc[k];
                    }
                }
        }
}

// ---- weights: U = G g G^T, and dw += G^T dU G; output channels [o0, o1) ----
// Blocks of CB input channels: the nine taps are first gathered into rows over c, so the
// transform runs as vector operations over c and writes each of the 16 planes of U
// contiguously.
#define CB 128

static void weight_task(void *arg, int64_t o0, int64_t o1) {
    const wg_job *j = arg;
    const int C = j->C, OC = j->OC;
    const long xs = (long)OC * C;
    float g[9][CB], s[4][3][CB];
    for (int64_t oc = o0; oc < o1; oc++)
        for (int c0 = 0; c0 < C; c0 += CB) {
            const int nc = C - c0 < CB ? C - c0 : CB;
            const float *wp = j->w + (oc * C + c0) * 9;
            for (int c = 0; c < nc; c++)
                for (int k = 0; k < 9; k++) g[k][c] = wp[c * 9 + k];
            for (int q = 0; q < 3; q++)  // rows: G g
                for (int c = 0; c < nc; c++) {
                    const float g0 = g[q][c], g1 = g[3 + q][c], g2 = g[6 + q][c];
                    s[0][q][c] = g0;
                    s[1][q][c] = 0.5f * (g0 + g1 + g2);
                    s[2][q][c] = 0.5f * (g0 - g1 + g2);
                    s[3][q][c] = g2;
                }
            float *u = j->U + oc * C + c0;
            for (int r = 0; r < 4; r++) {  // columns: (G g) G^T
                float *u0 = u + (r * 4 + 0) * xs, *u1 = u + (r * 4 + 1) * xs,
                      *u2 = u + (r * 4 + 2) * xs, *u3 = u + (r * 4 + 3) * xs;
                for (int c = 0; c < nc; c++) {
                    const float a = s[r][0][c], b = s[r][1][c], d = s[r][2][c];
                    u0[c] = a;
                    u1[c] = 0.5f * (a + b + d);
                    u2[c] = 0.5f * (a - b + d);
                    u3[c] = d;
                }
            }
        }
}

static void dweight_task(void *arg, int64_t o0, int64_t o1) {
    const wg_job *j = arg;
    const int C = j->C, OC = j->OC;
    const long xs = (long)OC * C;
    float s[3][4][CB], dg[9][CB];
    for (int64_t oc = o0; oc < o1; oc++)
        for (int c0 = 0; c0 < C; c0 += CB) {
            const int nc = C - c0 < CB ? C - c0 : CB;
            const float *u = j->U + oc * C + c0;  // here: dU
            for (int q = 0; q < 4; q++) {  // rows: G^T dU
                const float *u0 = u + (0 * 4 + q) * xs, *u1 = u + (1 * 4 + q) * xs,
                            *u2 = u + (2 * 4 + q) * xs, *u3 = u + (3 * 4 + q) * xs;
                for (int c = 0; c < nc; c++) {
                    s[0][q][c] = u0[c] + 0.5f * (u1[c] + u2[c]);
                    s[1][q][c] = 0.5f * (u1[c] - u2[c]);
                    s[2][q][c] = 0.5f * (u1[c] + u2[c]) + u3[c];
                }
            }
            for (int r = 0; r < 3; r++)  // columns: (G^T dU) G
                for (int c = 0; c < nc; c++) {
                    const float a = s[r][0][c], b = s[r][1][c], d = s[r][2][c], e = s[r][3][c];
                    dg[r * 3 + 0][c] = a + 0.5f * (b + d);
                    dg[r * 3 + 1][c] = 0.5f * (b - d);
                    dg[r * 3 + 2][c] = 0.5f * (b + d) + e;
                }
            float *dw = j->dw + (oc * C + c0) * 9;
            if (j->dw_acc)
                for (int c = 0; c < nc; c++)
                    for (int k = 0; k < 9; k++) dw[c * 9 + k] += dg[k][c];
            else
                for (int c = 0; c < nc; c++)
                    for (int k = 0; k < 9; k++) dw[c * 9 + k] = dg[k][c];
        }
}

// ---- the 16 gemms of one chunk ----
// Split 8 and 8 over tg_parallel_for's threads with OpenBLAS on one thread (see
// tg_gemm_is_small), or one after the other on OpenBLAS's threads.
typedef struct {
    CBLAS_TRANSPOSE ta, tb;
    int m, n, k;
    const float *a, *b;
    float *c;
    long sa, sb, sc;  // strides between the 16 matrices
    int lda, ldb, ldc;
    float beta;
} gemm16_job;

static void gemm16_task(void *arg, int64_t x0, int64_t x1) {
    const gemm16_job *g = arg;
    for (int64_t xi = x0; xi < x1; xi++)
        cblas_sgemm(CblasRowMajor, g->ta, g->tb, g->m, g->n, g->k, 1.0f, g->a + xi * g->sa,
                    g->lda, g->b + xi * g->sb, g->ldb, g->beta, g->c + xi * g->sc, g->ldc);
}

static void gemm16(const gemm16_job *g) {
    if (tg_gemm_is_small((int64_t)g->m * g->n * g->k))
        tg_gemm_split(16, gemm16_task, (void *)g);
    else
        gemm16_task((void *)g, 0, 16);
}

// Images per chunk: enough for CHUNK_TILES tiles (wider gemms gained nothing, and smaller
// V and M stay in cache: layer1 at batch 16 ran 15-25% faster with one image per chunk
// than with five), V and M under CHUNK_FLOATS, chunks of even size.
static int chunk_images(int N, int C, int OC, long T) {
    long ni = (CHUNK_TILES + T - 1) / (T ? T : 1);
    long per = 16L * (C > OC ? C : OC) * T;
    long cap = CHUNK_FLOATS / (per ? per : 1);
    if (ni > cap) ni = cap;
    if (ni < 1) ni = 1;
    if (ni >= N) return N;
    long chunks = (N + ni - 1) / ni;
    return (int)((N + chunks - 1) / chunks);
}

int tg_winograd_forward(float *out, const float *x, const float *w, int N, int OC,
                        const tg_conv_geom *g) {
    const int C = g->C, TH = (g->OH + 1) / 2, TW = (g->OW + 1) / 2;
    const long T = (long)TH * TW;
    const int CI = chunk_images(N, C, OC, T);
    const long ntmax = CI * T;
    float *U = tg_ops_scratch((size_t)(16L * OC * C + 16L * C * ntmax + 16L * OC * ntmax));
    if (!U) return -1;
    float *V = U + 16L * OC * C, *M = V + 16L * C * ntmax;
    wg_job j = {.g = g, .C = C, .OC = OC, .TH = TH, .TW = TW, .w = w, .U = U, .V = V, .M = M};
    tg_parallel_for(OC, 16L * C, weight_task, &j);
    for (int n0 = 0; n0 < N; n0 += CI) {
        j.ni = N - n0 < CI ? N - n0 : CI;
        j.nt = j.ni * T;
        j.x = x + (long)n0 * C * g->H * g->W;
        j.out = out + (long)n0 * OC * g->OH * g->OW;
        tg_parallel_for(C, 16 * j.nt, input_task, &j);
        gemm16(&(gemm16_job){CblasNoTrans, CblasNoTrans, OC, (int)j.nt, C, U, V, M,
                             (long)OC * C, (long)C * j.nt, (long)OC * j.nt, C, (int)j.nt,
                             (int)j.nt, 0.0f});
        tg_parallel_for(OC, 16 * j.nt, output_task, &j);
    }
    return 0;
}

int tg_winograd_backward(float *dx, float *dw, bool dw_acc, const float *dout,
                         const float *x, const float *w, int N, int OC, const tg_conv_geom *g) {
    if (!dx && !dw) return 0;
    const int C = g->C, TH = (g->OH + 1) / 2, TW = (g->OW + 1) / 2;
    const long T = (long)TH * TW;
    const int CI = chunk_images(N, C, OC, T);
    const long ntmax = CI * T, UF = 16L * OC * C;
    float *U = tg_ops_scratch((size_t)((dx ? UF : 0) + (dw ? UF : 0) + 16L * C * ntmax +
                                       16L * OC * ntmax));
    if (!U) return -1;
    float *dU = U + (dx ? UF : 0);
    float *V = dU + (dw ? UF : 0), *M = V + 16L * C * ntmax;
    wg_job j = {.g = g, .C = C, .OC = OC, .TH = TH, .TW = TW, .w = w, .dw = dw, .dw_acc = dw_acc,
                .U = U, .V = V, .M = M};
    if (dx) tg_parallel_for(OC, 16L * C, weight_task, &j);
    if (dw) memset(dU, 0, (size_t)UF * sizeof(float));
    for (int n0 = 0; n0 < N; n0 += CI) {
        j.ni = N - n0 < CI ? N - n0 : CI;
        j.nt = j.ni * T;
        j.x = x + (long)n0 * C * g->H * g->W;
        j.dx = dx ? dx + (long)n0 * C * g->H * g->W : NULL;
        j.dout = dout + (long)n0 * OC * g->OH * g->OW;
        tg_parallel_for(OC, 16 * j.nt, doutput_task, &j);
        if (dw) {
            tg_parallel_for(C, 16 * j.nt, input_task, &j);
            gemm16(&(gemm16_job){CblasNoTrans, CblasTrans, OC, C, (int)j.nt, M, V, dU,
                                 (long)OC * j.nt, (long)C * j.nt, UF / 16, (int)j.nt, (int)j.nt,
                                 C, 1.0f});
        }
        if (dx) {
            gemm16(&(gemm16_job){CblasTrans, CblasNoTrans, C, (int)j.nt, OC, U, M, V, UF / 16,
                                 (long)OC * j.nt, (long)C * j.nt, C, (int)j.nt, (int)j.nt,
                                 0.0f});
            tg_parallel_for(C, 16 * j.nt, dinput_task, &j);
        }
    }
    if (dw) {
        j.U = dU;
        tg_parallel_for(OC, 16L * C, dweight_task, &j);
    }
    return 0;
}
