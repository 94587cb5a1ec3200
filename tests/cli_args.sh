#!/usr/bin/env bash
# cli_args.sh TGFINETUNE: option bounds of train, predict and eval through the real binary. A
# value out of range is a usage error (exit 2) that names the option; a value in range gets
# past parsing (exit 1 here: the model does not exist; train: exit 2 naming the missing config).
set -u
tg=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")  # absolute: the test runs in $w
w=$(mktemp -d)
trap 'rm -rf "$w"' EXIT
cd "$w" || exit 1
fails=0
expect() {  # expected-rc description command...
    local want=$1 what=$2; shift 2
    "$@" >out 2>err
    local rc=$?
    if [[ $rc -ne $want ]]; then
        echo "FAIL: $what: exit $rc, expected $want"; cat err; fails=$((fails + 1))
    fi
}
has() {  # file pattern description
    if ! grep -q -- "$2" "$1"; then echo "FAIL: $3: '$2' not in output"; cat "$1"; fails=$((fails + 1)); fi
}
# --threads: 0 (every core) to 1024, as train.threads in the config
for cmd in predict eval; do
    if [[ $cmd == predict ]]; then args=(--model none.safetensors x.png)
    else args=(--model none.safetensors --data nodir); fi
    for bad in 100000 1025 -1 2x "" 99999999999999999999; do
        expect 2 "$cmd --threads '$bad'" "$tg" $cmd --threads "$bad" "${args[@]}"
        has err "--threads must be an integer in \[0, 1024\]" "$cmd --threads '$bad' names the option"
    done
    expect 2 "$cmd --threads=5000" "$tg" $cmd --threads=5000 "${args[@]}"
    has err "got '5000'" "$cmd --threads=5000 quotes the value"
    for good in 0 1 1024; do
        expect 1 "$cmd --threads $good is accepted" "$tg" $cmd --threads $good "${args[@]}"
        has err "none.safetensors" "$cmd --threads $good reaches the model"
    done
done
# train: the same bounds (0 = every core, as train.threads and predict/eval)
for bad in 100000 1025 -1 2x "" 99999999999999999999; do
    expect 2 "train --threads '$bad'" "$tg" train --threads "$bad" --config none.json
    has err "--threads must be an integer in \[0, 1024\]" "train --threads '$bad' names the option"
done
for good in 0 1 1024; do
    expect 2 "train --threads $good is accepted" "$tg" train --threads $good --config none.json
    has err "none.json: cannot open the config" "train --threads $good reaches the config"
done
# the other bounded options still name themselves
expect 2 "predict --topk 0" "$tg" predict --topk 0 --model none.safetensors x.png
has err "--topk must be" "predict --topk 0 names the option"
expect 2 "eval --batch-size 0" "$tg" eval --batch-size 0 --model none.safetensors --data nodir
has err "--batch-size must be" "eval --batch-size 0 names the option"
if [[ $fails -ne 0 ]]; then echo "cli_args: $fails failures"; exit 1; fi
echo "cli_args: all checks passed"
