/* ag_act.h: internal to csrc/ (not part of the cffi cdef), shared by the activation files:
 * activations.c (portable C, the driver and the exports), activations_avx512.c and
 * activations_avx2.c (one vector function per dtype computing every op, and its buffer loop).
 */
#ifndef AG_ACT_H
#define AG_ACT_H

#include "ag_kernels.h"
#include "ag_simd.h"

#include <stdint.h>

#define AG_SQRT2_F 0x1.6a09e6p+0f
#define AG_SQRT2_D 0x1.6a09e667f3bcdp+0

/* Every op, listed once: X(AG_OP_..., args) for each. The enum and AG_FOR_EACH_OP's switch are
 * both made from it, so the switch cannot miss an op. */
#define AG_OPS(X, ...)                                                                          \
    X(AG_OP_RELU, __VA_ARGS__)                                                                  \
    X(AG_OP_SIGMOID, __VA_ARGS__)                                                               \
    X(AG_OP_TANH, __VA_ARGS__)                                                                  \
    X(AG_OP_LEAKY_RELU, __VA_ARGS__)          /* p.a = negative slope */                        \
    X(AG_OP_ELU, __VA_ARGS__)                 /* p.a = alpha */                                 \
    X(AG_OP_SOFTPLUS, __VA_ARGS__)            /* p.a = beta, p.b = threshold */                 \
    X(AG_OP_RELU_BACKWARD, __VA_ARGS__)       /* (g, x); every op from here on is binary */     \
    X(AG_OP_SIGMOID_BACKWARD, __VA_ARGS__)    /* (g, y) */                                      \
    X(AG_OP_TANH_BACKWARD, __VA_ARGS__)       /* (g, y) */                                      \
    X(AG_OP_LEAKY_RELU_BACKWARD, __VA_ARGS__) /* (g, x) */                                      \
    X(AG_OP_ELU_BACKWARD, __VA_ARGS__)        /* (g, x) */                                      \
    X(AG_OP_SOFTPLUS_BACKWARD, __VA_ARGS__)   /* (g, x) */

#define AG_OP_ENUMERATOR(name, unused) name,
enum ag_op { AG_OPS(AG_OP_ENUMERATOR, 0) };
#undef AG_OP_ENUMERATOR

/* An op's scalar parameters, as the caller gave them (each ISA rounds them to its dtype), and
 * whether the loop streams its whole vectors to out (then 64-byte aligned) past the caches. */
struct act_params {
    double a, b;
    int stream;
};

/* One op over n elements: a is x or g, b is NULL or the second input. */
typedef void (*ag_elementwise_fn)(enum ag_op op, const void *a, const void *b, void *out,
                                  int64_t n, const struct act_params *p);

/* LOOP(AG_OP_..., ...) for the op in `op`: a vector ISA's buffer loop, inlined once per op with
 * the op a constant, so that the op's switch and its constants leave the loop. With them inside,
 * float32 on 16K elements in L1 took 0.078 ns an element for AVX-512 relu (0.050 now), 0.183
 * for sigmoid (0.162), 0.196 for tanh (0.180); AVX2 relu 0.116 (0.048). */
#define AG_OP_CASE_(name, LOOP, ...) case name: LOOP(name, __VA_ARGS__); break;
#define AG_FOR_EACH_OP(op, LOOP, ...) switch (op) { AG_OPS(AG_OP_CASE_, LOOP, __VA_ARGS__) }

#ifdef AG_SIMD_X86
/* [is_f64]: the buffer loop of each instruction set. */
extern const ag_elementwise_fn ag_act_avx512[2];
extern const ag_elementwise_fn ag_act_avx2[2];
#endif

#endif /* AG_ACT_H */
