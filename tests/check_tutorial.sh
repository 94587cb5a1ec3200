#!/bin/sh
# check_tutorial.sh TUTORIAL EXPECTED: runs the tutorial program and compares its output
# with the transcript of scripts/tutorial.py (PyTorch), ignoring whitespace; then asserts
# that each value the issue lists is in the output, so a regenerated transcript cannot
# silently drop one.
set -u
exe="$1"
expected="$2"
out=$("$exe") || { echo "FAIL: $exe exited with status $?"; exit 1; }
squash() { tr -d ' \t\n'; }
got=$(printf '%s' "$out" | squash)
want=$(squash < "$expected")
if [ "$got" != "$want" ]; then
    echo "FAIL: tutorial output differs from $expected (whitespace ignored)"
    printf '%s\n' "$out" > "${TMPDIR:-/tmp}/tutorial.out.$$"
    diff -w "$expected" "${TMPDIR:-/tmp}/tutorial.out.$$"
    rm -f "${TMPDIR:-/tmp}/tutorial.out.$$"
    exit 1
fi
fail=0
for v in \
    'Q=tensor([-12.,65.],grad_fn=<SubBackward0>)' \
    'a.grad=tensor([36.,81.])' \
    'b.grad=tensor([-12.,-8.])' \
    'tensor([True,True])tensor([True,True])' \
    'y.grad_fn:AddBackward0' \
    'z.grad_fn.next_functions:((PowBackward0,0),(None,0))' \
    'y.grad_fn.next_functions:((AccumulateGrad,0),(None,0))' \
    'Does`a`requiregradients?:False' \
    'Does`b`requiregradients?:True' \
    'Insidetorch.no_grad(),does`c`requiregradients?:False' \
    'Does`b.detach()`requiregradients?:False' \
    'out=tensor([[3.],[12.]],grad_fn=<MmBackward0>)' \
    'loss=tensor(41.,grad_fn=<MeanBackward0>)' \
    'w.grad=tensor([[27.],[37.],[47.]])' \
    'w=tensor([[0.7300],[0.6300],[0.5300]],requires_grad=True)' \
    '#Zeroinggradientstensor([0.,0.])'; do
    case "$got" in
    *"$v"*) ;;
    *) echo "FAIL: missing $v"; fail=1 ;;
    esac
done
[ "$fail" = 0 ] && echo "tutorial: output matches PyTorch's transcript ($(printf '%s\n' "$out" | wc -l) lines)"
exit "$fail"
