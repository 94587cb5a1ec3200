// relu.h: ReLU's backward on a buffer, shared with the fused ops (internal to lib/ops).
#ifndef TG_OPS_RELU_H
#define TG_OPS_RELU_H

#include <stdint.h>

// d (n,) = 0 where out <= 0, in place: ReLU's backward as threshold_backward (a NaN output
// passes its gradient), split over threads.
void tg_relu_mask(float *d, const float *out, int64_t n);

#endif
