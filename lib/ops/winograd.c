// winograd.c: Winograd convolution F(m x m, 3x3), m = 2 or 4, for 3x3 stride-1 padding-1
// layers, the twelve convolutions that carry 76% of ResNet-18's FLOPs. F(2x2) needs 2.25x
// fewer multiplies than im2col + gemm, F(4x4) 4x (less the padding of partial edge tiles).
//
// Each m x m block of outputs is computed from an a x a input tile d, a = m + 2 (tiles
// overlap by 2):
//   Y = A^T [ U ⊙ V ] A,   U = G g G^T (per weight 3x3 g),   V = B^T d B
// F(2x2, 3x3), points 0, 1, -1, ∞ (only 1 and 1/2: float32 error near 1e-6 relative):
//   B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1],  G = [1 0 0; .5 .5 .5; .5 -.5 .5; 0 0 1],
//   A^T = [1 1 1 0; 0 1 -1 -1].
// F(4x4, 3x3), points 0, 1, -1, 1/2, -2, ∞ (the Toom-Cook construction Lavin & Gray use;
// these points instead of their 0, +-1, +-2 halved the float32 error here, see below, and
// Barabasz et al. 2020 discuss choosing points for accuracy; B^T stays dyadic, so the
// input transform rounds only its sums):
//   B^T = [1 -3/2 -2 3/2 1 0; 0 -1 1/2 5/2 1 0; 0 1 -5/2 1/2 1 0; 0 -2 -1 2 1 0;
//          0 1/2 -1 -1/2 1 0; 0 1 -3/2 -2 3/2 1],
//   G = [1 0 0; 1/3 1/3 1/3; -1/3 1/3 -1/3; -16/15 -8/15 -4/15; 1/15 -2/15 4/15; 0 0 1],
//   A^T = [1 1 1 1 1 0; 0 1 -1 1/2 -2 0; 0 1 1 1/4 4 0; 0 1 -1 1/8 -8 1].
// Largest error relative to the largest |value|, against double-precision direct loops,
// kaiming-scale weights and N(0,1) inputs and output gradients (out, dx, dw):
//   C=OC=256 14x14 N=2: im2col 4.1e-7 3.6e-7 4.6e-7, F(2x2) 6.6e-7 6.0e-7 5.2e-7,
//                       F(4x4) 4.8e-6 2.5e-6 1.6e-6 (points 0 +-1 +-2: 1.1e-5 6.6e-6 3.9e-6)
//   C=OC=64 56x56 N=1:  im2col 4.9e-7 2.3e-7 2.8e-7, F(2x2) 3.2e-7 3.0e-7 6.5e-7,
//                       F(4x4) 2.0e-6 2.3e-6 3.5e-6 (points 0 +-1 +-2: 6.2e-6 4.0e-6 9.2e-6)
//   C=OC=512 7x7 N=2:   im2col 4.0e-7 3.0e-7 5.4e-7, F(2x2) 5.8e-7 4.2e-7 3.5e-7,
//                       F(4x4) 3.8e-6 2.3e-6 1.3e-6 (points 0 +-1 +-2: 1.1e-5 3.9e-6 2.2e-6)
// Summing over input channels makes each of the a*a positions xi of a tile a gemm:
//   M[xi] (OC, tiles) = U[xi] (OC, C) @ V[xi] (C, tiles).
// Backward is the adjoint of that linear chain (exact gradients of the same function):
//   dM = A dY A^T,  dV[xi] = U[xi]^T @ dM[xi],  dx += B dV B^T (overlapping tiles add),
//   dU[xi] = sum over tiles dM[xi] @ V[xi]^T,   dw += G^T dU G (or dw = G^T dU G).
// Tiles are processed in chunks of images so that V and M stay a few tens of MB; the
// transforms split over threads by channel, the a*a gemms over threads by position.
// The transforms are written once for both tile sizes: each is a product of a small
// constant matrix with rows of consecutive tiles (small_mm), inlined per tile size so that
// the coefficients are constants (zero terms vanish, the loop over tiles vectorizes).
#include "winograd.h"

#include <assert.h>
#include <cblas.h>
#include <string.h>

#include "conv_gemm.h"
#include "core/parallel.h"

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

#define CHUNK_FLOATS ((long)4 << 20)  // V or M of one chunk, at most (16 MB)
#define CHUNK_OUTPUTS 3072              // outputs per chunk: F(2x2) 768 tiles, F(4x4) 192

#define AMAX 6  // largest input tile side (F(4x4))
#define MMAX 4  // largest output tile side

typedef struct {
    int m;                // output tile side; the input tile side is m + 2
    float BT[AMAX][AMAX]; // (a, a), top-left corner used
    float G[AMAX][3];     // (a, 3)
    float AT[MMAX][AMAX]; // (m, a)
} wg_kind;

static const wg_kind kind2 = {
    .m = 2,
    .BT = {{1, 0, -1, 0}, {0, 1, 1, 0}, {0, -1, 1, 0}, {0, 1, 0, -1}},
    .G = {{1, 0, 0}, {0.5f, 0.5f, 0.5f}, {0.5f, -0.5f, 0.5f}, {0, 0, 1}},
    .AT = {{1, 1, 1, 0}, {0, 1, -1, -1}},
};

static const wg_kind kind4 = {
    .m = 4,
    .BT = {{1, -1.5f, -2, 1.5f, 1, 0},
           {0, -1, 0.5f, 2.5f, 1, 0},
           {0, 1, -2.5f, 0.5f, 1, 0},
           {0, -2, -1, 2, 1, 0},
           {0, 0.5f, -1, -0.5f, 1, 0},
           {0, 1, -1.5f, -2, 1.5f, 1}},
    .G = {{1, 0, 0},
          {1.0f / 3, 1.0f / 3, 1.0f / 3},
          {-1.0f / 3, 1.0f / 3, -1.0f / 3},
          {-16.0f / 15, -8.0f / 15, -4.0f / 15},
          {1.0f / 15, -2.0f / 15, 4.0f / 15},
          {0, 0, 1}},
    .AT = {{1, 1, 1, 1, 1, 0}, {0, 1, -1, 0.5f, -2, 0}, {0, 1, 1, 0.25f, 4, 0},
           {0, 1, -1, 0.125f, -8, 1}},
};

static long chunk_tiles_override;

void tg_winograd_set_chunk_tiles(long tiles) { chunk_tiles_override = tiles > 0 ? tiles : 0; }

bool tg_winograd_fits(const tg_conv_geom *g) {
    return g->KH == 3 && g->KW == 3 && g->stride == 1 && g->pad == 1;
}

long tg_winograd_tiles(const tg_conv_geom *g, int N, int m) {
    return (long)N * ((g->OH + m - 1) / m) * ((g->OW + m - 1) / m);
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
    float *V;           // (a*a, C, nt)
    float *M;           // (a*a, OC, nt)
    const float *w;     // (OC, C, 3, 3)
    float *dw;
    bool dw_acc;        // add into dw (else store)
    float *U;           // (a*a, OC, C)
} wg_job;

#define INLINE static inline __attribute__((always_inline))

// out[i][k] = sum_j c[i*ci + j*cj] * in[j][k] for i < R, j < S, k < n. With c constant
// (inlined for one wg_kind), zero terms and multiplications by +-1 drop out at compile
// time and the loop over k vectorizes. out[] must not overlap in[].
INLINE void small_mm(int R, int S, const float *c, int ci, int cj, float *const *out,
                     const float *const *in, int n) {
    for (int k = 0; k < n; k++) {
        float x[AMAX];
#pragma GCC unroll 6
        for (int j = 0; j < S; j++) x[j] = in[j][k];
#pragma GCC unroll 6
        for (int i = 0; i < R; i++) {
            float s = 0.0f;
            bool first = true;
#pragma GCC unroll 6
            for (int j = 0; j < S; j++) {
                const float cc = c[i * ci + j * cj];
                if (cc == 0.0f) continue;
                const float t = cc == 1.0f ? x[j] : cc == -1.0f ? -x[j] : cc * x[j];
                s = first ? t : s + t;
                first = false;
            }
            out[i][k] = s;
        }
    }
}

// The tile transforms work on blocks of up to TB consecutive tiles (contiguous in V and
// M): whole rows of tiles, across images when the rows are short (7x7 outputs: two F(4x4)
// tiles a row), or part of one row when a row has more than TB tiles. The arithmetic
// runs over the tiles of a block, so every inner loop is long and vectorizes; only the
// gathers from and scatters to image rows (column m*k + q of a row segment is column q of
// tile k) are strided (lane permutes with AVX-512: gather_stride, interleave). Results go
// through small local buffers and are copied into V and M plane by plane.
#define TB 64
#define SEG (MMAX * TB + 2)  // a row segment of TB tiles

typedef struct {
    int r0, nr;   // rows of tiles [r0, r0 + nr) of the chunk (images one after the other)
    int tw0, nb;  // tiles [tw0, tw0 + nb) of each row (nr == 1 unless the whole row)
    int nk;       // tiles in the block, nr * nb (0: past the last block)
    long t0;      // first tile of the block in the chunk
} wg_block;

// The block after b (the first after (wg_block){0}).
static wg_block block_next(const wg_job *j, wg_block b) {
    const int rows = j->ni * j->TH, rb = j->TW >= TB ? 1 : TB / j->TW;
    if (b.nk && (b.tw0 += b.nb) >= j->TW) b.tw0 = 0, b.r0 += b.nr;
    if (b.r0 >= rows) return (wg_block){.nk = 0};
    b.nr = rows - b.r0 < rb ? rows - b.r0 : rb;
    b.nb = j->TW - b.tw0 < TB ? j->TW - b.tw0 : TB;
    b.nk = b.nr * b.nb;
    b.t0 = (long)b.r0 * j->TW + b.tw0;
    return b;
}

#if defined(__AVX512F__)
// the first c lanes (none for c <= 0, all for c >= 16)
#define TG_MASK(c) \
    ((c) >= 16 ? (__mmask16)0xffff : (c) <= 0 ? (__mmask16)0 : (__mmask16)((1u << (c)) - 1))
#endif

// out[k] = s[m*k] for k < n, m = 2 or 4; s holds at least m*(n-1)+1 floats (no more is
// read). With AVX-512, 16 outputs at a time from two (m = 2) or four (m = 4) vectors by
// lane permutes; gcc left this loop scalar whenever a row had fewer than 8 tiles
// (layers 2-4 at 224x224: 7, 4 and 2 tiles a row).
INLINE void gather_stride(const float *s, int m, float *out, int n) {
    int k = 0;
#if defined(__AVX512F__)
    const int have = m * (n - 1) + 1;  // floats of s that may be read
    for (; k < n; k += 16) {
        const float *p = s + m * k;
        const int avail = have - m * k;
        const __mmask16 mo = TG_MASK(n - k);
        __m512 r;
        if (m == 2) {
            const __m512i idx = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24,
                                                  26, 28, 30);
            r = _mm512_permutex2var_ps(_mm512_maskz_loadu_ps(TG_MASK(avail), p), idx,
                                       _mm512_maskz_loadu_ps(TG_MASK(avail - 16), p + 16));
        } else {
            const __m512i idx = _mm512_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28, 0, 4, 8, 12, 16,
                                                  20, 24, 28);
            const __m512 lo = _mm512_permutex2var_ps(
                _mm512_maskz_loadu_ps(TG_MASK(avail), p), idx,
                _mm512_maskz_loadu_ps(TG_MASK(avail - 16), p + 16));
            const __m512 hi = _mm512_permutex2var_ps(
                _mm512_maskz_loadu_ps(TG_MASK(avail - 32), p + 32), idx,
                _mm512_maskz_loadu_ps(TG_MASK(avail - 48), p + 48));
            r = _mm512_shuffle_f32x4(lo, hi, 0x44);  // lanes 0-7 of lo, then 0-7 of hi
        }
        _mm512_mask_storeu_ps(out + k, mo, r);
    }
#endif
    for (; k < n; k++) out[k] = s[m * k];
}

// out[m*k + p] = in[p][k] for k < n, p < m, m = 2 or 4: the inverse of gather_stride over
// m columns (writes exactly m*n floats).
INLINE void interleave(const float *const *in, int m, float *out, int n) {
    int k = 0;
#if defined(__AVX512F__)
    const __m512i plo = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    const __m512i phi = _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30,
                                          15, 31);
    for (; k < n; k += 16) {
        const __mmask16 mi = TG_MASK(n - k);
        const int w = m * (n - k);  // floats left to write
        float *o = out + m * k;
        const __m512 a = _mm512_maskz_loadu_ps(mi, in[0] + k);
        const __m512 b = _mm512_maskz_loadu_ps(mi, in[1] + k);
        const __m512 ablo = _mm512_permutex2var_ps(a, plo, b);
        const __m512 abhi = _mm512_permutex2var_ps(a, phi, b);
        if (m == 2) {
            _mm512_mask_storeu_ps(o, TG_MASK(w), ablo);
            _mm512_mask_storeu_ps(o + 16, TG_MASK(w - 16), abhi);
            continue;
        }
        const __m512 c = _mm512_maskz_loadu_ps(mi, in[2] + k);
        const __m512 d = _mm512_maskz_loadu_ps(mi, in[3] + k);
        const __m512 cdlo = _mm512_permutex2var_ps(c, plo, d);
        const __m512 cdhi = _mm512_permutex2var_ps(c, phi, d);
        // pairs (a b) and (c d) of one tile side by side: tiles 0-3, 4-7 of each half
        const __m512i q0 =
            _mm512_setr_epi32(0, 1, 16, 17, 2, 3, 18, 19, 4, 5, 20, 21, 6, 7, 22, 23);
        const __m512i q1 = _mm512_setr_epi32(8, 9, 24, 25, 10, 11, 26, 27, 12, 13, 28, 29, 14, 15,
                                             30, 31);
        _mm512_mask_storeu_ps(o, TG_MASK(w), _mm512_permutex2var_ps(ablo, q0, cdlo));
        _mm512_mask_storeu_ps(o + 16, TG_MASK(w - 16), _mm512_permutex2var_ps(ablo, q1, cdlo));
        _mm512_mask_storeu_ps(o + 32, TG_MASK(w - 32), _mm512_permutex2var_ps(abhi, q0, cdhi));
        _mm512_mask_storeu_ps(o + 48, TG_MASK(w - 48), _mm512_permutex2var_ps(abhi, q1, cdhi));
    }
#endif
    for (; k < n; k++)
        for (int p = 0; p < m; p++) out[m * k + p] = in[p][k];
}

#define FOR_BLOCKS(j, b) for (wg_block b = block_next(j, (wg_block){0}); b.nk; b = block_next(j, b))

// Row rr of block b: image i of the chunk and tile row th.
#define BLOCK_ROW(j, b, rr, i, th) \
    const int i = ((b).r0 + (rr)) / (j)->TH, th = ((b).r0 + (rr)) % (j)->TH

// ---- input transform: V = B^T d B, channels [c0, c1) ----
INLINE void input_rows(const wg_job *j, int64_t c0, int64_t c1, const wg_kind *K) {
    const int m = K->m, a = m + 2;
    const int H = j->g->H, W = j->g->W, C = j->C;
    const long nt = j->nt, xs = (long)C * nt;  // xs: stride between positions xi
    float seg[AMAX][SEG], s[AMAX][SEG], col[AMAX][AMAX][TB], vt[AMAX][TB];
    const float *in[AMAX];
    float *out[AMAX];
    for (int64_t c = c0; c < c1; c++)
        FOR_BLOCKS(j, b) {
            const int len = m * b.nb + 2, w0 = m * b.tw0 - 1;
            for (int rr = 0; rr < b.nr; rr++) {
                BLOCK_ROW(j, b, rr, i, th);
                const float *xc = j->x + ((int64_t)i * C + c) * H * W;
                for (int r = 0; r < a; r++) {  // input rows m*th-1+r, columns w0.., zero-padded
                    const int ih = m * th - 1 + r;
                    if (ih < 0 || ih >= H) {
                        memset(seg[r], 0, (size_t)len * sizeof(float));
                        continue;
                    }
                    const int k0 = w0 < 0 ? -w0 : 0, k1 = W - w0 < len ? W - w0 : len;
                    for (int k = 0; k < k0; k++) seg[r][k] = 0.0f;
                    memcpy(seg[r] + k0, xc + ih * W + w0 + k0, (size_t)(k1 - k0) * sizeof(float));
                    for (int k = k1; k < len; k++) seg[r][k] = 0.0f;
                }
                for (int r = 0; r < a; r++) in[r] = seg[r], out[r] = s[r];
                small_mm(a, a, &K->BT[0][0], AMAX, 1, out, in, len);  // along the height: B^T d
                for (int r = 0; r < a; r++)  // tile k's columns
                    for (int q = 0; q < a; q++)
                        gather_stride(s[r] + q, m, col[r][q] + rr * b.nb, b.nb);
            }
            float *v = j->V + c * nt + b.t0;
            for (int r = 0; r < a; r++) {  // along the width: (B^T d) B
                for (int q = 0; q < a; q++) in[q] = col[r][q], out[q] = vt[q];
                small_mm(a, a, &K->BT[0][0], AMAX, 1, out, in, b.nk);
                for (int q = 0; q < a; q++)
                    memcpy(v + (r * a + q) * xs, vt[q], (size_t)b.nk * sizeof(float));
            }
        }
}

// ---- output transform: Y = A^T m A, output channels [o0, o1) ----
INLINE void output_rows(const wg_job *j, int64_t o0, int64_t o1, const wg_kind *K) {
    const int m = K->m, a = m + 2;
    const int OH = j->g->OH, OW = j->g->OW, OC = j->OC;
    const long nt = j->nt, xs = (long)OC * nt;
    float h[MMAX][AMAX][TB], y[MMAX][MMAX][TB];
    const float *in[AMAX];
    float *out[AMAX];
    for (int64_t oc = o0; oc < o1; oc++)
        FOR_BLOCKS(j, b) {
            const float *mb = j->M + oc * nt + b.t0;
            for (int q = 0; q < a; q++) {  // along the height: A^T m
                for (int r = 0; r < a; r++) in[r] = mb + (r * a + q) * xs;
                for (int t = 0; t < m; t++) out[t] = h[t][q];
                small_mm(m, a, &K->AT[0][0], AMAX, 1, out, in, b.nk);
            }
            for (int t = 0; t < m; t++) {  // along the width
                for (int q = 0; q < a; q++) in[q] = h[t][q];
                for (int p = 0; p < m; p++) out[p] = y[t][p];
                small_mm(m, a, &K->AT[0][0], AMAX, 1, out, in, b.nk);
            }
            const int ncol = OW - m * b.tw0 < m * b.nb ? OW - m * b.tw0 : m * b.nb;
            for (int rr = 0; rr < b.nr; rr++) {
                BLOCK_ROW(j, b, rr, i, th);
                float *yc = j->out + ((int64_t)i * OC + oc) * OH * OW;
                for (int t = 0; t < m && m * th + t < OH; t++) {  // output row m*th+t
                    float *row = yc + (m * th + t) * OW + m * b.tw0;
                    float(*yt)[TB] = y[t];
                    const int k0 = rr * b.nb;
                    if (ncol == m * b.nb) {
                        const float *ys[MMAX];
                        for (int p = 0; p < m; p++) ys[p] = yt[p] + k0;
                        interleave(ys, m, row, b.nb);
                    } else
                        for (int k = 0; k < ncol; k++) row[k] = yt[k % m][k0 + k / m];
                }
            }
        }
}

// ---- gradient of the output transform: dM = A dY A^T, output channels [o0, o1) ----
INLINE void doutput_rows(const wg_job *j, int64_t o0, int64_t o1, const wg_kind *K) {
    const int m = K->m, a = m + 2;
    const int OH = j->g->OH, OW = j->g->OW, OC = j->OC;
    const long nt = j->nt, xs = (long)OC * nt;
    float e[MMAX][MMAX][TB];  // [row][column][tile]
    float Ah[AMAX][MMAX][TB], mt[AMAX][TB];
    const float *in[AMAX];
    float *out[AMAX];
    for (int64_t oc = o0; oc < o1; oc++)
        FOR_BLOCKS(j, b) {
            const int ncol = OW - m * b.tw0 < m * b.nb ? OW - m * b.tw0 : m * b.nb;
            for (int rr = 0; rr < b.nr; rr++) {
                BLOCK_ROW(j, b, rr, i, th);
                const float *dy = j->dout + ((int64_t)i * OC + oc) * OH * OW;
                const int k0 = rr * b.nb;
                for (int t = 0; t < m; t++) {
                    const int oh = m * th + t;
                    const float *row = dy + oh * OW + m * b.tw0;
                    if (oh >= OH)
                        for (int p = 0; p < m; p++)
                            for (int k = 0; k < b.nb; k++) e[t][p][k0 + k] = 0.0f;
                    else if (ncol == m * b.nb)
                        for (int p = 0; p < m; p++) gather_stride(row + p, m, e[t][p] + k0, b.nb);
                    else
                        for (int k = 0; k < m * b.nb; k++)
                            e[t][k % m][k0 + k / m] = k < ncol ? row[k] : 0.0f;
                }
            }
            for (int p = 0; p < m; p++) {  // along the height: A dY
                for (int t = 0; t < m; t++) in[t] = e[t][p];
                for (int r = 0; r < a; r++) out[r] = Ah[r][p];
                small_mm(a, m, &K->AT[0][0], 1, AMAX, out, in, b.nk);
            }
            float *mb = j->M + oc * nt + b.t0;
            for (int r = 0; r < a; r++) {  // along the width: (A dY) A^T
                for (int p = 0; p < m; p++) in[p] = Ah[r][p];
                for (int q = 0; q < a; q++) out[q] = mt[q];
                small_mm(a, m, &K->AT[0][0], 1, AMAX, out, in, b.nk);
                for (int q = 0; q < a; q++)
                    memcpy(mb + (r * a + q) * xs, mt[q], (size_t)b.nk * sizeof(float));
            }
        }
}

// ---- gradient of the input transform: dx += B dV B^T, channels [c0, c1) ----
INLINE void dinput_rows(const wg_job *j, int64_t c0, int64_t c1, const wg_kind *K) {
    const int m = K->m, a = m + 2;
    const int H = j->g->H, W = j->g->W, C = j->C;
    const long nt = j->nt, xs = (long)C * nt;
    float S[AMAX][AMAX][TB], dd[AMAX][AMAX][TB], acc[SEG], over[MMAX * TB];
    static const float zeros[TB];
    const float *in[AMAX];
    float *out[AMAX];
    for (int64_t c = c0; c < c1; c++)
        FOR_BLOCKS(j, b) {
            const float *vb = j->V + c * nt + b.t0;
            for (int q = 0; q < a; q++) {  // along the height: B dV
                for (int r = 0; r < a; r++) in[r] = vb + (r * a + q) * xs;
                for (int t = 0; t < a; t++) out[t] = S[t][q];
                small_mm(a, a, &K->BT[0][0], 1, AMAX, out, in, b.nk);
            }
            for (int r = 0; r < a; r++) {  // along the width: (B dV) B^T
                for (int q = 0; q < a; q++) in[q] = S[r][q], out[q] = dd[r][q];
                small_mm(a, a, &K->BT[0][0], 1, AMAX, out, in, b.nk);
            }
            const int len = m * b.nb + 2, w0 = m * b.tw0 - 1;
            const int k0 = w0 < 0 ? -w0 : 0, k1 = W - w0 < len ? W - w0 : len;
            for (int rr = 0; rr < b.nr; rr++) {  // overlapping tiles add
                BLOCK_ROW(j, b, rr, i, th);
                float *dxc = j->dx + ((int64_t)i * C + c) * H * W;
                const int t0 = rr * b.nb;
                for (int r = 0; r < a; r++) {
                    const int ih = m * th - 1 + r;
                    if (ih < 0 || ih >= H) continue;
                    const float *cols[MMAX];  // column m*k+p: column p of tile k ...
                    for (int p = 0; p < m; p++) cols[p] = dd[r][p] + t0;
                    interleave(cols, m, acc, b.nb);
                    acc[m * b.nb] = acc[m * b.nb + 1] = 0.0f;
                    // ... and column p-m of tile k+1 overlaps it (p = m, m+1; zero beyond)
                    for (int p = 0; p < m; p++) cols[p] = p < 2 ? dd[r][m + p] + t0 : zeros;
                    interleave(cols, m, over, b.nb);
                    for (int k = 0; k < m * b.nb + 2 - m; k++) acc[m + k] += over[k];
                    float *row = dxc + ih * W;
                    for (int k = k0; k < k1; k++) row[w0 + k] += acc[k];
                }
            }
        }
}

// ---- weights: U = G g G^T, and dw += G^T dU G; output channels [o0, o1) ----
// Blocks of CB input channels: the nine taps are first gathered into rows over c, so the
// transform runs as vector operations over c and writes each plane of U contiguously.
#define CB 128

INLINE void weight_rows(const wg_job *j, int64_t o0, int64_t o1, const wg_kind *K) {
    const int a = K->m + 2, C = j->C, OC = j->OC;
    const long xs = (long)OC * C;
    float g[9][CB], s[AMAX][3][CB], ut[AMAX][CB];
    const float *in[AMAX];
    float *out[AMAX];
    for (int64_t oc = o0; oc < o1; oc++)
        for (int c0 = 0; c0 < C; c0 += CB) {
            const int nc = C - c0 < CB ? C - c0 : CB;
            const float *wp = j->w + (oc * C + c0) * 9;
            for (int c = 0; c < nc; c++)
                for (int k = 0; k < 9; k++) g[k][c] = wp[c * 9 + k];
            for (int q = 0; q < 3; q++) {  // rows: G g
                for (int r = 0; r < 3; r++) in[r] = g[r * 3 + q];
                for (int t = 0; t < a; t++) out[t] = s[t][q];
                small_mm(a, 3, &K->G[0][0], 3, 1, out, in, nc);
            }
            float *u = j->U + oc * C + c0;
            for (int r = 0; r < a; r++) {  // columns: (G g) G^T
                for (int q = 0; q < 3; q++) in[q] = s[r][q];
                for (int q = 0; q < a; q++) out[q] = ut[q];
                small_mm(a, 3, &K->G[0][0], 3, 1, out, in, nc);
                for (int q = 0; q < a; q++)
                    memcpy(u + (r * a + q) * xs, ut[q], (size_t)nc * sizeof(float));
            }
        }
}

INLINE void dweight_rows(const wg_job *j, int64_t o0, int64_t o1, const wg_kind *K) {
    const int a = K->m + 2, C = j->C, OC = j->OC;
    const long xs = (long)OC * C;
    float s[3][AMAX][CB], dg[9][CB];
    const float *in[AMAX];
    float *out[AMAX];
    for (int64_t oc = o0; oc < o1; oc++)
        for (int c0 = 0; c0 < C; c0 += CB) {
            const int nc = C - c0 < CB ? C - c0 : CB;
            const float *u = j->U + oc * C + c0;  // here: dU
            for (int q = 0; q < a; q++) {  // rows: G^T dU
                for (int r = 0; r < a; r++) in[r] = u + (r * a + q) * xs;
                for (int t = 0; t < 3; t++) out[t] = s[t][q];
                small_mm(3, a, &K->G[0][0], 1, 3, out, in, nc);
            }
            for (int r = 0; r < 3; r++) {  // columns: (G^T dU) G
                for (int q = 0; q < a; q++) in[q] = s[r][q];
                for (int t = 0; t < 3; t++) out[t] = dg[r * 3 + t];
                small_mm(3, a, &K->G[0][0], 1, 3, out, in, nc);
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

// The transforms instantiated for each tile size, as tg_parallel_for tasks.
typedef struct {
    const wg_kind *k;
    tg_parallel_fn input, output, doutput, dinput, weight, dweight;
} wg_impl;

#define WG_TASK(name, K)                                          \
    static void name##_##K(void *arg, int64_t i0, int64_t i1) {   \
        name##_rows(arg, i0, i1, &K);                             \
    }
#define WG_TASKS(K)                                                                     \
    WG_TASK(input, K)                                                                   \
    WG_TASK(output, K) WG_TASK(doutput, K) WG_TASK(dinput, K) WG_TASK(weight, K)        \
    WG_TASK(dweight, K)                                                                 \
    static const wg_impl impl_##K = {&K,           input_##K,  output_##K, doutput_##K, \
                                     dinput_##K,   weight_##K, dweight_##K};
WG_TASKS(kind2)
WG_TASKS(kind4)

static const wg_impl *impl_of(int m) {
    assert((m == 2 || m == 4) && "winograd: tile size m must be 2 or 4");
    return m == 2 ? &impl_kind2 : &impl_kind4;
}

// ---- the a*a gemms of one chunk, split over tg_parallel_for's threads (one OpenBLAS
// thread each) or one after the other on OpenBLAS's threads (see tg_gemm_is_small) ----
typedef struct {
    CBLAS_TRANSPOSE ta, tb;
    int m, n, k;
    const float *a, *b;
    float *c;
    long sa, sb, sc;  // strides between the matrices
    int lda, ldb, ldc;
    float beta;
} gemms_job;

static void gemms_task(void *arg, int64_t x0, int64_t x1) {
    const gemms_job *g = arg;
    for (int64_t xi = x0; xi < x1; xi++)
        cblas_sgemm(CblasRowMajor, g->ta, g->tb, g->m, g->n, g->k, 1.0f, g->a + xi * g->sa,
                    g->lda, g->b + xi * g->sb, g->ldb, g->beta, g->c + xi * g->sc, g->ldc);
}

static void gemms(int count, const gemms_job *g) {
    if (tg_gemm_is_small((int64_t)g->m * g->n * g->k))
        tg_gemm_split(count, gemms_task, (void *)g);
    else
        gemms_task((void *)g, 0, count);
}

// Images per chunk: enough for CHUNK_OUTPUTS outputs (wider gemms gained nothing, and
// smaller V and M stay in cache: layer1 at batch 16 ran 15-25% faster with one image per
// chunk than with five), V and M under CHUNK_FLOATS, chunks of even size.
static int chunk_images(int N, int C, int OC, long T, int m) {
    const long tiles = chunk_tiles_override ? chunk_tiles_override : CHUNK_OUTPUTS / (m * m);
    long ni = (tiles + T - 1) / (T ? T : 1);
    long per = (long)(m + 2) * (m + 2) * (C > OC ? C : OC) * T;
    long cap = CHUNK_FLOATS / (per ? per : 1);
    if (ni > cap) ni = cap;
    if (ni < 1) ni = 1;
    if (ni >= N) return N;
    long chunks = (N + ni - 1) / ni;
    return (int)((N + chunks - 1) / chunks);
}

int tg_winograd_forward(float *out, const float *x, const float *w, int N, int OC,
                        const tg_conv_geom *g, int m) {
    const wg_impl *im = impl_of(m);
    const int C = g->C, TH = (g->OH + m - 1) / m, TW = (g->OW + m - 1) / m, A2 = (m + 2) * (m + 2);
    const long T = (long)TH * TW;
    const int CI = chunk_images(N, C, OC, T, m);
    const long ntmax = CI * T;
    float *U = tg_ops_scratch((size_t)(A2 * ((long)OC * C + C * ntmax + OC * ntmax)));
    if (!U) return -1;
    float *V = U + A2 * (long)OC * C, *M = V + A2 * C * ntmax;
    wg_job j = {.g = g, .C = C, .OC = OC, .TH = TH, .TW = TW, .w = w, .U = U, .V = V, .M = M};
    tg_parallel_for(OC, (int64_t)A2 * C, im->weight, &j);
    for (int n0 = 0; n0 < N; n0 += CI) {
        j.ni = N - n0 < CI ? N - n0 : CI;
        j.nt = j.ni * T;
        j.x = x + (long)n0 * C * g->H * g->W;
        j.out = out + (long)n0 * OC * g->OH * g->OW;
        tg_parallel_for(C, A2 * j.nt, im->input, &j);
        gemms(A2, &(gemms_job){CblasNoTrans, CblasNoTrans, OC, (int)j.nt, C, U, V, M,
                               (long)OC * C, (long)C * j.nt, (long)OC * j.nt, C, (int)j.nt,
                               (int)j.nt, 0.0f});
        tg_parallel_for(OC, A2 * j.nt, im->output, &j);
    }
    return 0;
}

int tg_winograd_backward(float *dx, float *dw, bool dw_acc, const float *dout,
                         const float *x, const float *w, int N, int OC, const tg_conv_geom *g,
                         int m) {
    if (!dx && !dw) return 0;
    const wg_impl *im = impl_of(m);
    const int C = g->C, TH = (g->OH + m - 1) / m, TW = (g->OW + m - 1) / m, A2 = (m + 2) * (m + 2);
    const long T = (long)TH * TW;
    const int CI = chunk_images(N, C, OC, T, m);
    const long ntmax = CI * T, UF = A2 * (long)OC * C;
    float *U = tg_ops_scratch((size_t)((dx ? UF : 0) + (dw ? UF : 0) + A2 * C * ntmax +
                                       A2 * OC * ntmax));
    if (!U) return -1;
    float *dU = U + (dx ? UF : 0);
    float *V = dU + (dw ? UF : 0), *M = V + A2 * C * ntmax;
    wg_job j = {.g = g, .C = C, .OC = OC, .TH = TH, .TW = TW, .w = w, .dw = dw, .dw_acc = dw_acc,
                .U = U, .V = V, .M = M};
    if (dx) tg_parallel_for(OC, (int64_t)A2 * C, im->weight, &j);
    if (dw) memset(dU, 0, (size_t)UF * sizeof(float));
    for (int n0 = 0; n0 < N; n0 += CI) {
        j.ni = N - n0 < CI ? N - n0 : CI;
        j.nt = j.ni * T;
        j.x = x + (long)n0 * C * g->H * g->W;
        j.dx = dx ? dx + (long)n0 * C * g->H * g->W : NULL;
        j.dout = dout + (long)n0 * OC * g->OH * g->OW;
        tg_parallel_for(OC, A2 * j.nt, im->doutput, &j);
        if (dw) {
            tg_parallel_for(C, A2 * j.nt, im->input, &j);
            gemms(A2, &(gemms_job){CblasNoTrans, CblasTrans, OC, C, (int)j.nt, M, V, dU,
                                   (long)OC * j.nt, (long)C * j.nt, UF / A2, (int)j.nt,
                                   (int)j.nt, C, 1.0f});
        }
        if (dx) {
            gemms(A2, &(gemms_job){CblasTrans, CblasNoTrans, C, (int)j.nt, OC, U, M, V, UF / A2,
                                   (long)OC * j.nt, (long)C * j.nt, C, (int)j.nt, (int)j.nt,
                                   0.0f});
            tg_parallel_for(C, A2 * j.nt, im->dinput, &j);
        }
    }
    if (dw) {
        j.U = dU;
        tg_parallel_for(OC, (int64_t)A2 * C, im->dweight, &j);
    }
    return 0;
}
