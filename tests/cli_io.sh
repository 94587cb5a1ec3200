#!/usr/bin/env bash
# cli_io.sh TGFINETUNE: `convert` and `info` through the real binary: round trips, output
# contents and exit codes (0 ok, 1 bad file, 2 usage). Data from $TG_TEST_DATA/io.
set -u
tg=$1
d=${TG_TEST_DATA:-tests/data}/io
w=$(mktemp -d)
trap 'rm -rf "$w"' EXIT
fails=0
expect() {  # expected-rc description command...
    local want=$1 what=$2; shift 2
    "$@" >"$w/out" 2>"$w/err"
    local rc=$?
    if [[ $rc -ne $want ]]; then
        echo "FAIL: $what: exit $rc, expected $want"; cat "$w/err"; fails=$((fails + 1))
    fi
}
has() {  # file pattern description
    if ! grep -q -- "$2" "$1"; then echo "FAIL: $3: '$2' not in output"; cat "$1"; fails=$((fails + 1)); fi
}
expect 0 "legacy .pth -> safetensors" "$tg" convert "$d/dtypes_legacy.pth" -o "$w/a.safetensors"
has "$w/out" "21 tensors" "convert summary"
expect 0 "safetensors -> .pth" "$tg" convert "$w/a.safetensors" -o "$w/b.pth"
expect 0 ".pth -> safetensors" "$tg" convert "$w/b.pth" --output "$w/c.safetensors"
cmp -s "$w/a.safetensors" "$w/c.safetensors" || { echo "FAIL: round trip not byte-identical"; fails=$((fails + 1)); }
expect 0 "info safetensors" "$tg" info "$d/dtypes_expected.safetensors"
has "$w/out" "written_by: scripts/gen_io_fixtures.py" "info metadata"
has "$w/out" "view.transpose  *F32  \[4, 3\]" "info tensor line"
has "$w/out" "scalar.i64  *I64  \[\]" "info 0-dim"
has "$w/out" "^21 tensors" "info totals"
expect 0 "info pth" "$tg" info "$w/b.pth"
has "$w/out" "zip format" "info format"
expect 0 "convert with metadata to .pth" "$tg" convert "$d/dtypes_expected.safetensors" -o "$w/m.pth"
has "$w/err" "metadata" "metadata-dropped note"
expect 1 "hostile pickle" "$tg" convert "$d/hostile/os_system.pth" -o "$w/x.safetensors"
has "$w/err" "disallowed global os.system" "hostile message"
[[ -e $w/x.safetensors ]] && { echo "FAIL: output written for a hostile input"; fails=$((fails + 1)); }
# a view far larger than its storage (expand's stride 0): a modest one loads, a 4 GB one from
# a 521-byte file is refused naming the tensor, its shape and strides
expect 0 "info on torch.save's expanded tensors" "$tg" info "$d/expand.pth"
has "$w/out" "zeros  *F32  \[1000000\]" "expanded tensor listed"
expect 1 "a 4 GB expanded view" "$tg" convert "$d/hostile/expand_huge.pth" -o "$w/x.safetensors"
has "$w/err" "tensor 'w' (shape \[1000000000\], strides \[0\]) decodes to 4000000000 bytes" "expansion message"
[[ -e $w/x.safetensors ]] && { echo "FAIL: output written for an expanded view"; fails=$((fails + 1)); }
expect 1 "truncated zip" "$tg" info "$d/hostile/truncated.pth"
has "$w/err" "incomplete zip" "truncated message"
expect 1 "missing file" "$tg" info "$w/nope.pth"
has "$w/err" "No such file" "missing file message"
# a safetensors whose header is 128 bytes starts with 0x80, pickle's PROTO byte: info must
# still call it safetensors (the library's detection, safetensors first)
hdr='{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}'
{ printf '\x80\0\0\0\0\0\0\0%s' "$hdr"; printf '%*s' $((128 - ${#hdr})) ''
  printf '\0\0\x80\x3f\0\0\0\x40'; } > "$w/h128.safetensors"
expect 0 "info on a 128-byte safetensors header" "$tg" info "$w/h128.safetensors"
has "$w/out" "h128.safetensors: safetensors$" "128-byte header named safetensors"
grep -q "legacy" "$w/out" && { echo "FAIL: 128-byte header called a legacy .pth"; fails=$((fails + 1)); }
expect 0 "info legacy pth" "$tg" info "$d/dtypes_legacy.pth"
has "$w/out" "dtypes_legacy.pth: PyTorch checkpoint (legacy format)$" "legacy format named"
# NaN/Inf weights: info counts them per tensor, convert warns and still copies every bit
hdr='{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},"h":{"dtype":"F16","shape":[2],"data_offsets":[16,20]},"i":{"dtype":"I64","shape":[1],"data_offsets":[20,28]}}'
{ printf "\\x$(printf %02x ${#hdr})\\0\\0\\0\\0\\0\\0\\0%s" "$hdr"
  # a: 1.0, NaN (payload 1), +Inf, -Inf; h: 1.0, NaN; i: INT64_MAX (all-ones exponent bits, not a float)
  printf '\0\0\x80\x3f\x01\0\xc0\x7f\0\0\x80\x7f\0\0\x80\xff\0\x3c\0\x7e\xff\xff\xff\xff\xff\xff\xff\x7f'
} > "$w/nan.safetensors"
expect 0 "info on NaN/Inf weights" "$tg" info "$w/nan.safetensors"
has "$w/out" "^  a  *F32  \[4\]  *3 non-finite" "info: non-finite count on the tensor's line"
has "$w/out" "^  h  *F16  \[2\]  *1 non-finite" "info: F16 non-finite count"
has "$w/out" "^  i  *I64  \[1\]$" "info: no count for an integer tensor"
has "$w/err" "warning: tensor a: 3 non-finite values" "info: warning on stderr"
expect 0 "convert NaN/Inf weights" "$tg" convert "$w/nan.safetensors" -o "$w/nan.pth"
has "$w/err" "warning: tensor a: 3 non-finite values" "convert: warning for a"
has "$w/err" "warning: tensor h: 1 non-finite value " "convert: warning for h"
grep -q "tensor i" "$w/err" && { echo "FAIL: convert warned about an integer tensor"; fails=$((fails + 1)); }
expect 0 "convert NaN/Inf weights back" "$tg" convert "$w/nan.pth" -o "$w/nan2.safetensors"
cmp -s <(tail -c 28 "$w/nan.safetensors") <(tail -c 28 "$w/nan2.safetensors") ||
    { echo "FAIL: NaN/Inf weights not copied bit for bit"; fails=$((fails + 1)); }
# names and metadata come from the file: an ESC (a terminal escape sequence) or a newline
# in them is printed as \x1b / \x0a, in listings and in error messages alike
hdr='{"__metadata__":{"note":"line\nforged"},"e\u001b[31mred":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}'
{ printf "\\x$(printf %02x ${#hdr})\\0\\0\\0\\0\\0\\0\\0%s" "$hdr"; printf '\0\0\x80\x3f'; } > "$w/esc.safetensors"
expect 0 "info on escape-laden names" "$tg" info "$w/esc.safetensors"
has "$w/out" 'e\\x1b\[31mred  *F32' "info: ESC in a tensor name escaped"
has "$w/out" 'note: line\\x0aforged' "info: newline in metadata escaped"
grep -q $'\x1b' "$w/out" && { echo "FAIL: info printed a raw ESC"; fails=$((fails + 1)); }
grep -q '^forged' "$w/out" && { echo "FAIL: info printed a forged line"; fails=$((fails + 1)); }
hdr='{"e\u001b[31mred":{"dtype":"Q8","shape":[1],"data_offsets":[0,4]}}'
{ printf "\\x$(printf %02x ${#hdr})\\0\\0\\0\\0\\0\\0\\0%s" "$hdr"; printf '\0\0\x80\x3f'; } > "$w/esc2.safetensors"
expect 1 "bad dtype under an escape-laden name" "$tg" convert "$w/esc2.safetensors" -o "$w/esc2.pth"
has "$w/err" "tensor 'e\\\\x1b\[31mred': unsupported dtype" "error message: ESC escaped"
grep -q $'\x1b' "$w/err" && { echo "FAIL: an error message printed a raw ESC"; fails=$((fails + 1)); }
# new files get 0666 & ~umask like any tool's (umask 077: private); a replaced file keeps its mode
for m in 077 022 027; do
    rm -f "$w/u.safetensors"
    expect 0 "convert under umask $m" bash -c "umask $m && exec \"\$@\"" _ "$tg" convert "$d/dtypes_zip.pth" -o "$w/u.safetensors"
    want=$(printf %o $((0666 & ~0$m)))
    got=$(stat -c %a "$w/u.safetensors")
    [[ $got == "$want" ]] || { echo "FAIL: umask $m: mode $got, expected $want"; fails=$((fails + 1)); }
done
chmod 640 "$w/u.safetensors"
expect 0 "convert over a 0640 file under umask 077" bash -c 'umask 077 && exec "$@"' _ "$tg" convert "$d/dtypes_zip.pth" -o "$w/u.safetensors"
[[ $(stat -c %a "$w/u.safetensors") == 640 ]] || { echo "FAIL: replaced file did not keep 640 under umask 077"; fails=$((fails + 1)); }
chmod 600 "$w/u.safetensors"
expect 0 "convert over a 0600 file under umask 022" bash -c 'umask 022 && exec "$@"' _ "$tg" convert "$d/dtypes_zip.pth" -o "$w/u.safetensors"
[[ $(stat -c %a "$w/u.safetensors") == 600 ]] || { echo "FAIL: a private file was widened on replace"; fails=$((fails + 1)); }
expect 2 "no arguments" "$tg" convert
expect 2 "no -o" "$tg" convert "$d/dtypes_zip.pth"
expect 2 "bad extension" "$tg" convert "$d/dtypes_zip.pth" -o "$w/x.bin"
expect 2 "unknown option" "$tg" info --bogus "$d/dtypes_zip.pth"
expect 0 "help" "$tg" convert --help
if [[ $fails -ne 0 ]]; then echo "cli_io: $fails failures"; exit 1; fi
echo "cli_io: all checks passed"
