#!/usr/bin/python3
"""The twin of tests/tutorial.c: PyTorch's "A Gentle Introduction to torch.autograd"
(plus the graph walk, no-grad/detach and tiny-network steps the issue lists), printing
every value the C program prints. Its output is the C program's expected transcript:

    /usr/bin/python3 scripts/tutorial.py > tests/data/tutorial/expected.txt

grad_fn objects are printed by name (their default repr holds a memory address), and
next_functions as ((Name, 0), (None, 0)).
"""
import warnings

import torch

warnings.simplefilter("ignore")  # y.grad on a non-leaf warns; the point is that it is None


def fn_name(fn):
    # as torch prints a grad_fn's class: "AccumulateGrad", not "torch::autograd::AccumulateGrad"
    return "None" if fn is None else fn.name().rsplit("::", 1)[-1]


def next_functions(fn):
    items = ["(%s, %d)" % (fn_name(f), i) for f, i in fn.next_functions]
    return "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"


torch.manual_seed(0)

print("# Differentiation in Autograd")
a = torch.tensor([2., 3.], requires_grad=True)
b = torch.tensor([6., 4.], requires_grad=True)
print("a =", a)
print("b =", b)
Q = 3 * a**3 - b**2
print("Q =", Q)
external_grad = torch.tensor([1., 1.])
Q.backward(gradient=external_grad)
print("a.grad =", a.grad)
print("b.grad =", b.grad)
# check if collected gradients are correct
print(9 * a**2 == a.grad)
print(-2 * b == b.grad)

print("# Computational Graph")
x = torch.ones(2, 2, requires_grad=True)
y = x + 1
print("y =", y)
print("y.grad_fn:", fn_name(y.grad_fn))
z = y**2 + 3
print("z =", z)
print("z.grad_fn:", fn_name(z.grad_fn))
print("z.grad_fn.next_functions:", next_functions(z.grad_fn))
pow_fn = z.grad_fn.next_functions[0][0]
print("z.grad_fn.next_functions[0][0].next_functions:", next_functions(pow_fn))
print("y.grad_fn.next_functions:", next_functions(y.grad_fn))
out = z.mean()
print("out =", out)
out.backward()
print("x.grad =", x.grad)
print("y.grad is None:", y.grad is None)

print("# Exclusion from the DAG")
x5 = torch.rand(5, 5)
y5 = torch.rand(5, 5)
z5 = torch.rand((5, 5), requires_grad=True)
a5 = x5 + y5
print(f"Does `a` require gradients? : {a5.requires_grad}")
b5 = x5 + z5
print(f"Does `b` require gradients?: {b5.requires_grad}")
with torch.no_grad():
    c5 = x5 + z5
print(f"Inside torch.no_grad(), does `c` require gradients? : {c5.requires_grad}")
d5 = b5.detach()
print(f"Does `b.detach()` require gradients? : {d5.requires_grad}")

print("# A tiny network")
x = torch.tensor([[0., 1., 2.], [3., 4., 5.]])
w = torch.ones(3, 1, requires_grad=True)
target = torch.tensor([[2.], [3.]])
out = x @ w
print("out =", out)
loss = ((out - target)**2).mean()
print("loss =", loss)
loss.backward()
print("w.grad =", w.grad)
learning_rate = 0.01
with torch.no_grad():
    w -= learning_rate * w.grad
print("w =", w)
print("w.grad.zero_() =", w.grad.zero_())

print("# Zeroing gradients")
print(a.grad.zero_())
