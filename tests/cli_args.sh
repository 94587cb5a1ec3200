#!/usr/bin/env bash
# cli_args.sh TGFINETUNE: the command lines of every command through the real binary. A
# value out of range is a usage error (exit 2) that names the option; a value in range gets
# past parsing (exit 1 here: the model does not exist; train: exit 2 naming the missing config).
# Then the option tables: each command's --help lists exactly the options its parser
# accepts, in every spelling, --version works everywhere, and unknown options, missing
# values and bad integers exit 2 with "tgfinetune CMD: ..." messages.
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

# ---- the option tables (cmd/options.c): --help lists exactly what the parser accepts ----
# The long options each command's --help must list (a removed or renamed option is a change
# of the user contract, so it is written here on purpose), and the integer ones with their
# range; "top" is tgfinetune itself.
declare -A longs=(
    [top]="help version"
    [train]="config resume threads help version"
    [predict]="model topk json threads help version"
    [eval]="model data json report batch-size threads help version"
    [check]="data val config image-size max-bad-fraction json threads help version"
    [convert]="output help version"
    [info]="help version"
    [report]="output help version"
    [bench]="batch size freeze steps classes threads phases json help version"
)
declare -A ints=(
    [top]="" [train]="threads:0:1024" [predict]="topk:1:1000000 threads:0:1024"
    [eval]="batch-size:1:65536 threads:0:1024" [check]="image-size:1:8192 threads:0:1024"
    [convert]="" [info]="" [report]=""
    [bench]="batch:1:4096 size:32:4096 steps:1:100000 classes:1:16777216 threads:0:1024"
)
version=$("$tg" --version)
[[ $version =~ ^tgfinetune\ [0-9]+\.[0-9]+\.[0-9]+$ ]] || { echo "FAIL: --version printed '$version'"; fails=$((fails + 1)); }
opt_re='^  (-([A-Za-z]), |    )--([a-z][a-z-]*)( ([A-Z]+))?( |$)'
for cmd in top train predict eval check convert info bench report; do
    c=($cmd) name="tgfinetune $cmd"
    if [[ $cmd == top ]]; then c=() name=tgfinetune; fi
    prefix="$name: "
    # --help and -h: the usage on stdout, exit 0; --version and -V: the version
    expect 0 "$name --help" "$tg" "${c[@]}" --help
    has out "^usage: $name " "$name --help starts with the usage line"
    cp out help
    expect 0 "$name -h" "$tg" "${c[@]}" -h
    cmp -s out help || { echo "FAIL: $name -h differs from --help"; fails=$((fails + 1)); }
    for v in --version -V; do
        expect 0 "$name $v" "$tg" "${c[@]}" $v
        [[ $(cat out) == "$version" ]] || { echo "FAIL: $name $v printed '$(cat out)'"; fails=$((fails + 1)); }
    done
    # the option list: short letter, long name, value name
    listed=() shorts=""
    declare -A meta=()
    while IFS= read -r line; do
        [[ $line =~ $opt_re ]] || continue
        listed+=("${BASH_REMATCH[3]}")
        shorts+=${BASH_REMATCH[2]}
        meta[${BASH_REMATCH[3]}]=${BASH_REMATCH[5]}
        if [[ -n ${BASH_REMATCH[2]} ]]; then meta[-${BASH_REMATCH[2]}]=${BASH_REMATCH[5]}; fi
    done < help
    [[ "${listed[*]}" == "${longs[$cmd]}" ]] ||
        { echo "FAIL: $name --help lists '${listed[*]}', expected '${longs[$cmd]}'"; fails=$((fails + 1)); }
    # the usage lines (up to "--help | --version") name every listed option and positional
    synopsis=$(sed '/--help | --version$/q' help)
    for l in "${listed[@]}"; do
        [[ $l == help || $l == version ]] && continue
        grep -q -- "--$l\b" <<<"$synopsis" || { echo "FAIL: $name: usage line lacks --$l"; fails=$((fails + 1)); }
    done
    grep -q -- "--help | --version$" <<<"$synopsis" || { echo "FAIL: $name: usage lacks --help | --version"; fails=$((fails + 1)); }
    for p in $(grep -oE '^  [A-Z]+ ' help); do
        grep -qw -- "$p" <<<"$synopsis" || { echo "FAIL: $name: usage line lacks $p"; fails=$((fails + 1)); }
    done
    for l in $(grep -oE -- '--[a-z][a-z-]*' <<<"$synopsis"); do
        [[ " ${listed[*]} " == *" ${l#--} "* ]] || { echo "FAIL: $name: usage names $l, not in the option list"; fails=$((fails + 1)); }
    done
    # every listed option is accepted in each spelling: --opt V, --opt=V, -o V, -oV and an
    # unambiguous prefix (32 is in range for every integer option); the help after it
    # proves it was parsed and its value taken
    found_ints=""
    for l in "${listed[@]}"; do
        [[ $l == help || $l == version ]] && continue
        m=${meta[$l]}
        if [[ -z $m ]]; then
            expect 0 "$name --$l is accepted" "$tg" "${c[@]}" --$l --help
            has out "^usage: $name" "$name --$l --help"
            expect 2 "$name --$l=1" "$tg" "${c[@]}" --$l=1
            has err "^${prefix}--$l takes no value$" "$name --$l=1 message"
            continue
        fi
        for form in "--$l 32" "--$l=32" "--${l:0:${#l}-1} 32"; do
            expect 0 "$name $form is accepted" "$tg" "${c[@]}" $form --help
            has out "^usage: $name" "$name $form --help"
        done
        expect 2 "$name --$l without a value" "$tg" "${c[@]}" --$l
        has err "^${prefix}--$l needs a value ($m)$" "$name --$l missing value message"
        "$tg" "${c[@]}" --$l x --help > /dev/null 2> err
        if grep -q "must be an integer" err; then found_ints+=" $l"; fi
    done
    for s in $(grep -o . <<<"$shorts"); do
        [[ $s == h || $s == V ]] && continue
        for form in "-$s 32" "-${s}32"; do
            [[ -z ${meta[-$s]} ]] && form="-$s"
            expect 0 "$name $form is accepted" "$tg" "${c[@]}" $form --help
            has out "^usage: $name" "$name $form --help"
        done
        if [[ -n ${meta[-$s]} ]]; then
            expect 2 "$name -$s without a value" "$tg" "${c[@]}" -$s
            has err "needs a value (${meta[-$s]})$" "$name -$s missing value message"
        fi
    done
    # every other letter is an unknown option, as are other long names
    for s in {a..z} {A..Z}; do
        [[ $shorts == *$s* || $s == h || $s == V ]] && continue
        expect 2 "$name -$s is unknown" "$tg" "${c[@]}" -$s
        has err "^${prefix}unknown option '-$s'$" "$name -$s message"
        has err "^usage: $name" "$name -$s prints the usage"
    done
    for bogus in --bogus --bogus=1 --helpx --versions=1; do
        expect 2 "$name $bogus is unknown" "$tg" "${c[@]}" $bogus
        has err "^${prefix}unknown option '${bogus%%=*}'$" "$name $bogus message"
    done
    # the integer options: found by their error, each bound accepted, one past it refused
    want=""
    for spec in ${ints[$cmd]}; do want+=" ${spec%%:*}"; done
    [[ $found_ints == "$want" ]] || { echo "FAIL: $name integer options '$found_ints', expected '$want'"; fails=$((fails + 1)); }
    for spec in ${ints[$cmd]}; do
        IFS=: read -r l lo hi <<<"$spec"
        for v in $lo $hi; do
            expect 0 "$name --$l $v is in range" "$tg" "${c[@]}" --$l $v --help
        done
        for v in $((lo - 1)) $((hi + 1)) 1x "" 99999999999999999999; do
            expect 2 "$name --$l '$v' is refused" "$tg" "${c[@]}" --$l="$v"
            has err "^${prefix}--$l must be an integer in \[$lo, $hi\].* (got '$v')$" "$name --$l '$v' message"
        done
    done
    unset meta
done
# positionals, required options, --, repeats, clusters, prefixes
expect 2 "tgfinetune without a command" "$tg"
has err "^tgfinetune: missing COMMAND$" "missing command message"
expect 2 "an unknown command" "$tg" bogus
has err "^tgfinetune: unknown command 'bogus'" "unknown command message"
expect 0 "tgfinetune help" "$tg" help
has out "^usage: tgfinetune COMMAND" "tgfinetune help prints the usage"
expect 2 "predict without an image" "$tg" predict --model none.safetensors
has err "^tgfinetune predict: give at least one IMAGE$" "predict without an image message"
expect 2 "convert without -o" "$tg" convert in.pth
has err "^tgfinetune convert: --output OUT is required$" "convert without -o message"
expect 2 "convert without IN" "$tg" convert -o x.safetensors
has err "^tgfinetune convert: missing IN$" "convert without IN message"
expect 2 "info without FILE" "$tg" info
has err "^tgfinetune info: missing FILE$" "info without FILE message"
expect 2 "info with two files" "$tg" info a b
has err "^tgfinetune info: unexpected argument 'b'$" "info with two files message"
expect 2 "train without --config" "$tg" train
has err "^tgfinetune train: --config FILE is required$" "train without --config message"
expect 2 "eval without --data" "$tg" eval --model none.safetensors
has err "^tgfinetune eval: --data DIR is required$" "eval without --data message"
expect 2 "train with an argument" "$tg" train --config none.json extra
has err "^tgfinetune train: unexpected argument 'extra'$" "train with an argument message"
expect 2 "an ambiguous prefix" "$tg" bench --s 40
has err "^tgfinetune bench: option '--s' is ambiguous (--size, --steps)$" "ambiguous prefix message"
expect 1 "-- ends the options (info)" "$tg" info -- -x.pth
has err "^tgfinetune info: -x.pth: cannot open: No such file" "-- makes -x.pth a file"
expect 1 "-- ends the options (predict)" "$tg" predict --model none.safetensors -- --topk
has err "none.safetensors" "predict -- --topk is an image"
expect 1 "options after arguments" "$tg" predict x.png --model none.safetensors
has err "none.safetensors" "predict IMAGE --model reaches the model"
expect 1 "a repeated option: the last wins" "$tg" predict --model a.safetensors --model none.safetensors x.png
has err "^tgfinetune predict: none.safetensors" "predict --model twice takes the last"
expect 1 "a cluster of short options" "$tg" predict -jk3 -mnone.safetensors x.png
has err "none.safetensors" "predict -jk3 -mFILE reaches the model"
expect 2 "a cluster with a bad value" "$tg" predict -jk0 x.png
has err "^tgfinetune predict: --topk must be an integer in \[1, 1000000\] (got '0')$" "predict -jk0 message"
expect 2 "a list option keeps every value" "$tg" bench --freeze 'layer1.*' --freeze nomatch --steps 1
has err "^tgfinetune bench: --freeze 'nomatch' matches no parameter" "bench --freeze twice checks both"
expect 2 "options are read in order (--help after an error)" "$tg" train --bogus --help
expect 0 "options are read in order (--help before an error)" "$tg" train --help --bogus
if [[ $fails -ne 0 ]]; then echo "cli_args: $fails failures"; exit 1; fi
echo "cli_args: all checks passed"
