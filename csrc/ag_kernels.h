/* ag_kernels.h: the whole C API of autograd's compiled kernels.
 *
 * csrc/build_ffi.py reads this file into cffi's cdef with every preprocessor line
 * removed, so everything else here must be plain declarations that cffi can parse.
 *
 * Conventions, for every kernel:
 *   - the return value is a status: AG_OK (0) or a negative AG_ERR_* code; nothing prints,
 *     nothing exits, nothing allocates (except GEMM's packing buffers, freed before it returns);
 *   - n counts elements (not bytes) of contiguous buffers; n == 0 is a no-op that accepts
 *     NULL pointers;
 *   - out may be the very same buffer as an input (in place), but must not overlap one
 *     partially (AG_ERR_OVERLAP);
 *   - results do not depend on the thread count or on the chunking of the buffer;
 *   - the instruction set is chosen at run time (see ag_isa), never at build time.
 */
#ifndef AG_KERNELS_H
#define AG_KERNELS_H

#include <stdint.h>

enum ag_status {
    AG_OK = 0,
    AG_ERR_NULL = -1,       /* a required pointer is NULL */
    AG_ERR_SIZE = -2,       /* negative or impossibly large element count */
    AG_ERR_ARG = -3,        /* any other invalid argument */
    AG_ERR_OVERLAP = -4,    /* output partially overlaps an input */
    AG_ERR_NOMEM = -5       /* a scratch buffer could not be allocated */
};

enum ag_isa_level {
    AG_ISA_PORTABLE = 0,    /* plain C11, any CPU */
    AG_ISA_AVX2 = 1,        /* x86-64 with AVX2 + FMA */
    AG_ISA_AVX512 = 2       /* x86-64 with AVX-512 F, DQ, VL, BW (and OS support for zmm) */
};

/* cpu.c: run-time dispatch, threads, build description. */
int ag_isa(void);                   /* the level kernels use now: min(detected, cap) */
int ag_isa_detected(void);          /* the highest level this CPU and OS support */
int ag_set_isa_cap(int cap);        /* use at most `cap`; returns the level now in use,
                                       or AG_ERR_ARG if cap is not an AG_ISA_* value */
const char *ag_build_info(void);    /* compiler, flags and threading (static string) */
int ag_set_num_threads(int n);      /* 1 <= n <= 1024, else AG_ERR_ARG */
int ag_get_num_threads(void);       /* the set value, else OMP_NUM_THREADS, else the CPUs we
                                       may run on; 1 in a child of fork() */
/* glibc malloc: keep up to trim_bytes of freed heap instead of returning it to the kernel, and
 * map blocks above mmap_bytes on their own; AG_ERR_ARG elsewhere or if glibc refuses. */
int ag_keep_freed_memory(int64_t trim_bytes, int64_t mmap_bytes);

/* activations.c: element-wise forward and backward over n contiguous elements.
 * relu(x) = x > 0 or x is NaN ? x : +0        (numpy's maximum(x, 0))
 * sigmoid(x) = 1 / (1 + e^-x) for x >= 0, e^x / (1 + e^x) otherwise (never overflows)
 * relu_backward = g * (x > 0), sigmoid_backward = g * y * (1 - y),
 * tanh_backward = g * (1 - y * y), where y is the forward output. */
int ag_relu_f32(const float *x, float *out, int64_t n);
int ag_relu_f64(const double *x, double *out, int64_t n);
int ag_sigmoid_f32(const float *x, float *out, int64_t n);
int ag_sigmoid_f64(const double *x, double *out, int64_t n);
int ag_tanh_f32(const float *x, float *out, int64_t n);
int ag_tanh_f64(const double *x, double *out, int64_t n);
int ag_relu_backward_f32(const float *g, const float *x, float *out, int64_t n);
int ag_relu_backward_f64(const double *g, const double *x, double *out, int64_t n);
int ag_sigmoid_backward_f32(const float *g, const float *y, float *out, int64_t n);
int ag_sigmoid_backward_f64(const double *g, const double *y, double *out, int64_t n);
int ag_tanh_backward_f32(const float *g, const float *y, float *out, int64_t n);
int ag_tanh_backward_f64(const double *g, const double *y, double *out, int64_t n);

/* gemm.c: C = alpha * op(A) @ op(B) + beta * C, all row-major; op(A) is m x k, op(B) k x n.
 * trans_a = 0: A is m x k with row stride lda >= k; trans_a = 1: A is k x m, lda >= m (the
 * same for B with n). C is m x n, ldc >= n, and must not overlap A or B. beta == 0 never reads
 * C (NaN there does not leak); alpha == 0 or k == 0 never reads A or B and gives beta * C.
 * Results are bitwise identical for any thread count (a fixed summation order over k). */
int ag_sgemm(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, float alpha,
             const float *a, int64_t lda, const float *b, int64_t ldb, float beta,
             float *c, int64_t ldc);
int ag_dgemm(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, double alpha,
             const double *a, int64_t lda, const double *b, int64_t ldb, double beta,
             double *c, int64_t ldc);
/* C = alpha * op(A) @ op(B) + bias, bias (n contiguous elements, not overlapping C) added to
 * every row: a linear layer's x @ W^T + b in one pass. Bitwise what ag_sgemm gives with C
 * filled with the bias rows and beta = 1, without that extra pass over C. */
int ag_sgemm_bias(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                  const float *a, int64_t lda, const float *b, int64_t ldb, const float *bias,
                  float *c, int64_t ldc);
int ag_dgemm_bias(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, double alpha,
                  const double *a, int64_t lda, const double *b, int64_t ldb, const double *bias,
                  double *c, int64_t ldc);
/* C = op(A) @ op(B) with every leading dimension implied: op(A) row-major m x k (or, trans_a,
 * the transpose of a row-major k x m: a transposed view such as g.T), likewise op(B), and C
 * row-major m x n. Bitwise ag_sgemm with alpha 1, beta 0 and the tightest lda, ldb, ldc; five
 * arguments fewer through cffi, for matmul (~0.1 us of a call's ~1 us from Python). */
int ag_smatmul(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, const float *a,
               const float *b, float *c);
int ag_dmatmul(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, const double *a,
               const double *b, double *c);
/* batch such products at once: A_i = a + i * stride_a elements (likewise B_i, C_i; stride_a or
 * stride_b 0 shares one operand); the C_i must not overlap (stride_c spans at least one C).
 * Small products run one per thread; each result is bitwise the single product's. */
/* 1 when a batch of this many runs one product per thread at the current thread count (the
 * batch splits evenly, or into at least 4 per thread), else 0. */
int ag_gemm_batch_per_thread(int64_t batch);
int ag_sgemm_batched(int64_t batch, int trans_a, int trans_b, int64_t m, int64_t n, int64_t k,
                     float alpha, const float *a, int64_t lda, int64_t stride_a, const float *b,
                     int64_t ldb, int64_t stride_b, float beta, float *c, int64_t ldc,
                     int64_t stride_c);
int ag_dgemm_batched(int64_t batch, int trans_a, int trans_b, int64_t m, int64_t n, int64_t k,
                     double alpha, const double *a, int64_t lda, int64_t stride_a, const double *b,
                     int64_t ldb, int64_t stride_b, double beta, double *c, int64_t ldc,
                     int64_t stride_c);
/* The blocking GEMM uses at `isa` for float64 (is_f64 = 1) or float32: out[0..4] = MR, NR, KC,
 * MC, NC (micro-tile rows and columns, and the k, m and n block sizes), for tests and tuning. */
int ag_gemm_blocking(int isa, int is_f64, int64_t *out);

/* conv.c (im2col, col2im) and pool.c (max and average pooling), float32 and float64.
 * Every kernel takes the input geometry n, c, h, w, the window kh x kw, strides sh, sw, zero
 * padding ph, pw and the output size oh, ow, which must equal PyTorch's floor-mode size
 * (h + 2 ph - kh) / sh + 1 (else AG_ERR_ARG: buffers are sized from it). All buffers are
 * contiguous: x and gx (n, c, h, w); cols (n, c * kh * kw, oh * ow) with row (ci * kh + i) * kw + j
 * holding x[ci, oh * sh - ph + i, ow * sw - pw + j] (0 in the padding); out, gy and idx
 * (n, c, oh, ow). Pooling needs 2 ph <= kh, 2 pw <= kw and h, w >= 1 (every window holds an
 * element). idx is the argmax's offset ih * w + iw inside its plane: the first maximum, or the
 * first NaN; the backward rejects an index outside the plane (AG_ERR_ARG). avg_pool divides by
 * kh * kw (count_include_pad). Threads split (image, channel) planes; each plane is summed by
 * one thread in a fixed order, so results are bitwise identical for any thread count. */
int ag_im2col_f32(const float *x, float *cols, int64_t n, int64_t c, int64_t h, int64_t w,
                  int64_t kh, int64_t kw, int64_t sh, int64_t sw, int64_t ph, int64_t pw,
                  int64_t oh, int64_t ow);
int ag_im2col_f64(const double *x, double *cols, int64_t n, int64_t c, int64_t h, int64_t w,
                  int64_t kh, int64_t kw, int64_t sh, int64_t sw, int64_t ph, int64_t pw,
                  int64_t oh, int64_t ow);
int ag_col2im_f32(const float *cols, float *x, int64_t n, int64_t c, int64_t h, int64_t w,
                  int64_t kh, int64_t kw, int64_t sh, int64_t sw, int64_t ph, int64_t pw,
                  int64_t oh, int64_t ow);
int ag_col2im_f64(const double *cols, double *x, int64_t n, int64_t c, int64_t h, int64_t w,
                  int64_t kh, int64_t kw, int64_t sh, int64_t sw, int64_t ph, int64_t pw,
                  int64_t oh, int64_t ow);
/* The same with cols batch-major, (c * kh * kw, n * oh * ow): column i * oh * ow + l of a row is
 * image i's position l, so one 2-D GEMM covers the batch (for small outputs, where per-image
 * products are too thin). */
int ag_im2col_bm_f32(const float *x, float *cols, int64_t n, int64_t c, int64_t h, int64_t w,
                     int64_t kh, int64_t kw, int64_t sh, int64_t sw, int64_t ph, int64_t pw,
                     int64_t oh, int64_t ow);
int ag_im2col_bm_f64(const double *x, double *cols, int64_t n, int64_t c, int64_t h, int64_t w,
                     int64_t kh, int64_t kw, int64_t sh, int64_t sw, int64_t ph, int64_t pw,
                     int64_t oh, int64_t ow);
int ag_col2im_bm_f32(const float *cols, float *x, int64_t n, int64_t c, int64_t h, int64_t w,
                     int64_t kh, int64_t kw, int64_t sh, int64_t sw, int64_t ph, int64_t pw,
                     int64_t oh, int64_t ow);
int ag_col2im_bm_f64(const double *cols, double *x, int64_t n, int64_t c, int64_t h, int64_t w,
                     int64_t kh, int64_t kw, int64_t sh, int64_t sw, int64_t ph, int64_t pw,
                     int64_t oh, int64_t ow);
/* conv2d.c: a convolution (no bias) and its two gradients, image by image, each image's
 * im2col in a per-thread buffer; the geometry as above (the window is the weights' kh x kw)
 * plus out_c, the output channels. wt is the weights (out_c, c, kh, kw), contiguous;
 * out and gy (n, out_c, oh, ow); x and gx (n, c, h, w); gw like wt. conv2d writes out; grad_input
 * writes gx = the input gradient for output gradient gy; grad_weight writes gw = the weights'
 * gradient, summed over the images in fixed groups: the same bits for any thread count. */
int ag_conv2d_f32(const float *x, const float *wt, float *out, int64_t n, int64_t c, int64_t h,
                  int64_t w, int64_t kh, int64_t kw, int64_t sh, int64_t sw, int64_t ph,
                  int64_t pw, int64_t oh, int64_t ow, int64_t out_c);
int ag_conv2d_f64(const double *x, const double *wt, double *out, int64_t n, int64_t c,
                  int64_t h, int64_t w, int64_t kh, int64_t kw, int64_t sh, int64_t sw,
                  int64_t ph, int64_t pw, int64_t oh, int64_t ow, int64_t out_c);
int ag_conv2d_grad_input_f32(const float *gy, const float *wt, float *gx, int64_t n, int64_t c,
                             int64_t h, int64_t w, int64_t kh, int64_t kw, int64_t sh,
                             int64_t sw, int64_t ph, int64_t pw, int64_t oh, int64_t ow,
                             int64_t out_c);
int ag_conv2d_grad_input_f64(const double *gy, const double *wt, double *gx, int64_t n,
                             int64_t c, int64_t h, int64_t w, int64_t kh, int64_t kw, int64_t sh,
                             int64_t sw, int64_t ph, int64_t pw, int64_t oh, int64_t ow,
                             int64_t out_c);
int ag_conv2d_grad_weight_f32(const float *x, const float *gy, float *gw, int64_t n, int64_t c,
                              int64_t h, int64_t w, int64_t kh, int64_t kw, int64_t sh,
                              int64_t sw, int64_t ph, int64_t pw, int64_t oh, int64_t ow,
                              int64_t out_c);
int ag_conv2d_grad_weight_f64(const double *x, const double *gy, double *gw, int64_t n,
                              int64_t c, int64_t h, int64_t w, int64_t kh, int64_t kw,
                              int64_t sh, int64_t sw, int64_t ph, int64_t pw, int64_t oh,
                              int64_t ow, int64_t out_c);
/* A convolution's bias over x (n, c, hw), contiguous: add_channel_bias adds bias[ci] to every
 * element of channel ci in place; channel_sum writes out[ci] = the sum of g[:, ci, :] (its
 * gradient), accumulated in double in a fixed order whatever the thread count. */
int ag_add_channel_bias_f32(float *x, const float *bias, int64_t n, int64_t c, int64_t hw);
int ag_add_channel_bias_f64(double *x, const double *bias, int64_t n, int64_t c, int64_t hw);
int ag_channel_sum_f32(const float *g, float *out, int64_t n, int64_t c, int64_t hw);
int ag_channel_sum_f64(const double *g, double *out, int64_t n, int64_t c, int64_t hw);
int ag_max_pool2d_f32(const float *x, float *out, int64_t *idx, int64_t n, int64_t c,
                      int64_t h, int64_t w, int64_t kh, int64_t kw, int64_t sh, int64_t sw,
                      int64_t ph, int64_t pw, int64_t oh, int64_t ow);
int ag_max_pool2d_f64(const double *x, double *out, int64_t *idx, int64_t n, int64_t c,
                      int64_t h, int64_t w, int64_t kh, int64_t kw, int64_t sh, int64_t sw,
                      int64_t ph, int64_t pw, int64_t oh, int64_t ow);
int ag_max_pool2d_backward_f32(const float *gy, const int64_t *idx, float *gx, int64_t n,
                               int64_t c, int64_t h, int64_t w, int64_t kh, int64_t kw,
                               int64_t sh, int64_t sw, int64_t ph, int64_t pw, int64_t oh,
                               int64_t ow);
int ag_max_pool2d_backward_f64(const double *gy, const int64_t *idx, double *gx, int64_t n,
                               int64_t c, int64_t h, int64_t w, int64_t kh, int64_t kw,
                               int64_t sh, int64_t sw, int64_t ph, int64_t pw, int64_t oh,
                               int64_t ow);
int ag_avg_pool2d_f32(const float *x, float *out, int64_t n, int64_t c, int64_t h, int64_t w,
                      int64_t kh, int64_t kw, int64_t sh, int64_t sw, int64_t ph, int64_t pw,
                      int64_t oh, int64_t ow);
int ag_avg_pool2d_f64(const double *x, double *out, int64_t n, int64_t c, int64_t h, int64_t w,
                      int64_t kh, int64_t kw, int64_t sh, int64_t sw, int64_t ph, int64_t pw,
                      int64_t oh, int64_t ow);
int ag_avg_pool2d_backward_f32(const float *gy, float *gx, int64_t n, int64_t c, int64_t h,
                               int64_t w, int64_t kh, int64_t kw, int64_t sh, int64_t sw,
                               int64_t ph, int64_t pw, int64_t oh, int64_t ow);
int ag_avg_pool2d_backward_f64(const double *gy, double *gx, int64_t n, int64_t c, int64_t h,
                               int64_t w, int64_t kh, int64_t kw, int64_t sh, int64_t sw,
                               int64_t ph, int64_t pw, int64_t oh, int64_t ow);

/* activations.c, parametrised: leaky_relu, elu and softplus (beta, threshold as PyTorch), and
 * their backward passes, which take the input x. Parameters are rounded to the dtype first. */
int ag_leaky_relu_f32(const float *x, float *out, int64_t n, double negative_slope);
int ag_leaky_relu_f64(const double *x, double *out, int64_t n, double negative_slope);
int ag_elu_f32(const float *x, float *out, int64_t n, double alpha);
int ag_elu_f64(const double *x, double *out, int64_t n, double alpha);
int ag_softplus_f32(const float *x, float *out, int64_t n, double beta, double threshold);
int ag_softplus_f64(const double *x, double *out, int64_t n, double beta, double threshold);
int ag_leaky_relu_backward_f32(const float *g, const float *x, float *out, int64_t n,
                               double negative_slope);
int ag_leaky_relu_backward_f64(const double *g, const double *x, double *out, int64_t n,
                               double negative_slope);
int ag_elu_backward_f32(const float *g, const float *x, float *out, int64_t n, double alpha);
int ag_elu_backward_f64(const double *g, const double *x, double *out, int64_t n, double alpha);
int ag_softplus_backward_f32(const float *g, const float *x, float *out, int64_t n,
                             double beta, double threshold);
int ag_softplus_backward_f64(const double *g, const double *x, double *out, int64_t n,
                             double beta, double threshold);

/* losses.c: softmax cross-entropy over `rows` contiguous rows of `classes` logits, with either
 * class labels (int64, each in [0, classes) or ignore_index; else AG_ERR_ARG before any work)
 * or probabilities (rows x classes), the other pointer NULL. Forward writes each row's loss
 * (0 for an ignored row) and stats[2i], stats[2i + 1] = (max, log sum e^(x - max)) of the row,
 * and, when summary is not NULL, summary[0] = the sum of the rows' losses (as stored, added in
 * row order in double) and summary[1] = the number of rows not ignored (what the reductions
 * need, without another pass from Python); backward reads the stats back and writes
 * grad = scale[i * scale_stride] (softmax - smoothed target) (scale_stride 0: one scale).
 * Forward with grad not NULL also writes that gradient for an upstream gradient of 1 of the
 * mean (grad_mean: scale 1 / the rows not ignored, rounded to the dtype) or of the sum (scale
 * 1), bit for bit what backward computes from the stats it saved: the common loss.backward()
 * then needs no second pass (nor a second call).
 * bce_with_logits: max(x,0) - x t + log1p(e^-|x|); its backward sigmoid(x) - t. mse: (x - t)^2;
 * its backward 2 (x - t). Elementwise, unreduced. */
int ag_softmax_xent_f32(const float *x, int64_t rows, int64_t classes, const int64_t *labels,
                        const float *probs, double label_smoothing, int64_t ignore_index,
                        float *loss, float *stats, double *summary, int grad_mean, float *grad);
int ag_softmax_xent_f64(const double *x, int64_t rows, int64_t classes, const int64_t *labels,
                        const double *probs, double label_smoothing, int64_t ignore_index,
                        double *loss, double *stats, double *summary, int grad_mean, double *grad);
int ag_softmax_xent_backward_f32(const float *x, const float *stats, int64_t rows, int64_t classes,
                                 const int64_t *labels, const float *probs,
                                 double label_smoothing, int64_t ignore_index,
                                 const float *scale, int64_t scale_stride, float *grad);
int ag_softmax_xent_backward_f64(const double *x, const double *stats, int64_t rows, int64_t classes,
                                 const int64_t *labels, const double *probs,
                                 double label_smoothing, int64_t ignore_index,
                                 const double *scale, int64_t scale_stride, double *grad);
int ag_bce_with_logits_f32(const float *x, const float *target, float *out, int64_t n);
int ag_bce_with_logits_f64(const double *x, const double *target, double *out, int64_t n);
int ag_bce_with_logits_backward_f32(const float *x, const float *target, float *out, int64_t n);
int ag_bce_with_logits_backward_f64(const double *x, const double *target, double *out, int64_t n);
int ag_mse_f32(const float *x, const float *target, float *out, int64_t n);
int ag_mse_f64(const double *x, const double *target, double *out, int64_t n);
int ag_mse_backward_f32(const float *x, const float *target, float *out, int64_t n);
int ag_mse_backward_f64(const double *x, const double *target, double *out, int64_t n);

/* optim.c: one Adam / AdamW step over n contiguous elements, in place, as torch.optim.Adam's
 * single-tensor algorithm (grad already negated for maximize and with L2 weight decay added):
 *   exp_avg = lerp(exp_avg, grad, avg_weight)            avg_weight = 1 - beta1
 *   exp_avg_sq = exp_avg_sq * beta2 + sq_weight * grad * grad     sq_weight = 1 - beta2
 *   max_exp_avg_sq = max(max_exp_avg_sq, exp_avg_sq)      (amsgrad: pass it, else NULL)
 *   param += neg_step_size * exp_avg / (sqrt(exp_avg_sq or its max) / bias_correction2_sqrt + eps)
 * Each operation rounds in the dtype, left to right. The five buffers must not overlap. */
int ag_adam_f32(float *param, const float *grad, float *exp_avg, float *exp_avg_sq,
                float *max_exp_avg_sq, int64_t n, double avg_weight, double beta2,
                double sq_weight, double neg_step_size, double bias_correction2_sqrt, double eps);
int ag_adam_f64(double *param, const double *grad, double *exp_avg, double *exp_avg_sq,
                double *max_exp_avg_sq, int64_t n, double avg_weight, double beta2,
                double sq_weight, double neg_step_size, double bias_correction2_sqrt, double eps);

/* optim.c: one SGD step over n contiguous elements, in place, as torch.optim.SGD's single-tensor
 * algorithm, each operation rounded in the dtype (scalars cast to it first), left to right:
 *   g = -grad if maximize else grad;   g = g + param * weight_decay   (if weight_decay != 0)
 *   buf = g if first else buf * momentum + g * (1 - dampening)         (buf NULL: no momentum)
 *   d = g + buf * momentum if nesterov else buf (g without momentum);   param = param + d * -lr
 * param, grad and buf must not overlap (AG_ERR_OVERLAP, checked before any write). */
int ag_sgd_f32(float *param, const float *grad, float *buf, int64_t n, double lr, double momentum,
               double dampening, double weight_decay, int nesterov, int maximize, int first);
int ag_sgd_f64(double *param, const double *grad, double *buf, int64_t n, double lr,
               double momentum, double dampening, double weight_decay, int nesterov, int maximize,
               int first);

/* optim.c: out = x + alpha * y over n contiguous elements (alpha cast to the dtype; the product
 * rounded before the add, so bitwise numpy's y * alpha then x + that). out may be x or y, but
 * must not overlap either at an offset (AG_ERR_OVERLAP). */
int ag_add_scaled_f32(float *out, const float *x, double alpha, const float *y, int64_t n);
int ag_add_scaled_f64(double *out, const double *x, double alpha, const double *y, int64_t n);

/* reduce.c: out[j] = the sum of column j of the contiguous rows x cols matrix x, its rows added
 * in order in the dtype, starting from +0 (bitwise numpy's x.sum(axis=0) for cols >= 2: numpy
 * sums a single column pairwise); out must not overlap x (AG_ERR_OVERLAP). */
int ag_sum_rows_f32(const float *x, int64_t rows, int64_t cols, float *out);
int ag_sum_rows_f64(const double *x, int64_t rows, int64_t cols, double *out);
/* masked = g * (y > 0) (relu_backward) and out = masked.sum(axis=0) (as ag_sum_rows), in one
 * pass over rows x cols C-ordered g and y: a LinearReLU's pre-activation and bias gradients.
 * masked may be g or y exactly; any other overlap is AG_ERR_OVERLAP. */
int ag_relu_backward_sum_rows_f32(const float *g, const float *y, float *masked, int64_t rows,
                                  int64_t cols, float *out);
int ag_relu_backward_sum_rows_f64(const double *g, const double *y, double *masked, int64_t rows,
                                  int64_t cols, double *out);
#endif
