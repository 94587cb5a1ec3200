// print.h: a tensor as PyTorch prints it (torch/_tensor_str.py's rules with the default
// print options: precision 4, linewidth 80, threshold 1000, edgeitems 3):
//   tensor([36., 81.])                    all values integral: "36."
//   tensor([-12., 65.], grad_fn=<SubBackward0>)
//   tensor([[0.7300],
//           [0.6300]], requires_grad=True) otherwise 4 decimals, columns padded alike
//   tensor(41., grad_fn=<MeanBackward0>)   0-dim
//   tensor([1.0000e-05, 1.0000e+00])       scientific when the range needs it
//   tensor([ True, False])                 TG_BOOL
// More than 1000 elements are summarised with "..." (3 items at each end of each dim).
#ifndef TG_PRINT_H
#define TG_PRINT_H

#include "tensor.h"

// A malloc'd string (free() it), or NULL if out of memory.
char *tg_tensor_str(const tg_tensor *t);

#endif
