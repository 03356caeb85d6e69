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

enum ag_op {
    AG_OP_RELU,
    AG_OP_SIGMOID,
    AG_OP_TANH,
    AG_OP_LEAKY_RELU,        /* p.a = negative slope */
    AG_OP_ELU,               /* p.a = alpha */
    AG_OP_SOFTPLUS,          /* p.a = beta, p.b = threshold */
    AG_OP_RELU_BACKWARD,     /* (g, x); every op from here on is binary */
    AG_OP_SIGMOID_BACKWARD,  /* (g, y) */
    AG_OP_TANH_BACKWARD,     /* (g, y) */
    AG_OP_LEAKY_RELU_BACKWARD, /* (g, x) */
    AG_OP_ELU_BACKWARD,      /* (g, x) */
    AG_OP_SOFTPLUS_BACKWARD  /* (g, x) */
};

/* An op's scalar parameters, as the caller gave them (each ISA rounds them to its dtype). */
struct act_params {
    double a, b;
};

/* One op over n elements: a is x or g, b is NULL or the second input. */
typedef void (*ag_elementwise_fn)(enum ag_op op, const void *a, const void *b, void *out,
                                  int64_t n, const struct act_params *p);

#ifdef AG_SIMD_X86
/* [is_f64]: the buffer loop of each instruction set. */
extern const ag_elementwise_fn ag_act_avx512[2];
extern const ag_elementwise_fn ag_act_avx2[2];
#endif

#endif /* AG_ACT_H */
