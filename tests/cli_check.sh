#!/usr/bin/env bash
# cli_check.sh TGFINETUNE IMAGES_DIR: `tgfinetune check` through the real binary.
#  1. the fixture of check_fixture.sh (one of each problem): --json checked field by field
#     against the whole expected report (every count, path, reason, note, size, skipped
#     entry and duplicate group), the text report's lines, exit 1; the same JSON at 1 and 3
#     threads; --config gives what the options give; the folder's listing, sizes, modes and
#     mtimes unchanged after every run;
#  2. a clean folder exits 0 (and says so), then one change at a time: each problem that
#     would stop or skew training exits 1 with its line, each informational one exits 0;
#  3. usage and config errors exit 2, a missing folder exits 1; the progress bar is drawn
#     on a terminal only.
# Ends with "N passed, M failed".
set -u
BIN=$(realpath "$1")
IMAGES=$(realpath "$2")
HERE=$(cd "$(dirname "$0")" && pwd)
PY=/usr/bin/python3
npass=0
nfail=0
pass() { echo "ok: $*"; npass=$((npass + 1)); }
fail() { echo "FAIL: $*"; nfail=$((nfail + 1)); }
W=$(mktemp -d "${TMPDIR:-/tmp}/tg_check_XXXXXX")
trap 'rm -rf "$W"' EXIT
cd "$W" || exit 1

# run RC NAME -- ARGS...: `tgfinetune ARGS` exits RC (stdout in out.txt, stderr in err.txt)
run() {
    local want=$1 name=$2; shift 3
    "$BIN" "$@" > out.txt 2> err.txt < /dev/null
    local rc=$?
    if [[ $rc -eq $want ]] && ! grep -qE 'Sanitizer|runtime error:' err.txt; then
        pass "$name (exit $rc)"
    else
        fail "$name: exit $rc, expected $want"; head -20 err.txt
    fi
}
has() {  # NAME FILE FRAGMENT: FILE holds the fixed string FRAGMENT
    if grep -qF -- "$3" "$2"; then pass "$1"; else fail "$1: '$3' not in $2"; head -40 "$2"; fi
}
lacks() {
    if grep -qF -- "$3" "$2"; then fail "$1: '$3' in $2"; else pass "$1"; fi
}
listing() { find "$1" -printf '%P|%y|%s|%m|%T@|%l\n' | sort; }

# ---- 1. the fixture with every problem ----
bash "$HERE/check_fixture.sh" "$W/ds" "$IMAGES" || { echo "FAIL: fixture"; exit 1; }
D=$W/ds
listing "$D" > before.txt
run 1 "check --json on the fixture" -- check --data "$D/train" --val "$D/val" --image-size 20 --json
cp out.txt fixture.json
if "$PY" - "$D" fixture.json << 'EOF'
import json, sys
R, path = sys.argv[1], sys.argv[2]
got = json.load(open(path))
T, V = R + "/train/", R + "/val/"

def lst(*paths):
    return {"count": len(paths), "paths": list(paths)}

def cls(name, files, readable, n, C):
    return {"name": name, "files": files, "readable": readable,
            "share": readable / n if n else 0, "weight": n / (C * readable) if readable else None,
            "empty": readable == 0, "few": 0 < readable < 10}

no_notes = {k: lst() for k in ("cmyk", "16bit", "palette", "alpha", "grayscale", "exif_rotated",
                               "smaller_than_image_size", "extreme_aspect")}
no_skips = {k: lst() for k in ("hidden", "links_not_followed", "other_extensions", "outside_classes")}
bad = [("bird/garbage.jpg", "not a PNG or JPEG (unrecognised magic bytes 86 c2 43 7d)"),
       ("cat/lost.png", "cannot open: No such file or directory"),
       ("cat/trunc40.png", "bad PNG: truncated PNG (file ends at byte 40)")]
want = {
    "ok": False,
    "problems": [
        R + "/train: 3 of 21 image files are unreadable, more than max_bad_fraction 0.1: training stops",
        R + "/train: class 'bird' has no readable image (1 unreadable): it is never seen in training",
        R + "/val: class 'bird' has no image file: training stops",
        "1 image is under more than one class (a labelling conflict)",
        "1 image is in both --data and --val (leakage: validation accuracy is inflated)"],
    "settings": {"image_size": 20, "max_bad_fraction": 0.1, "max_pixels": 50000000,
                 "exif_orientation": True, "few_images": 10, "max_aspect": 3},
    "data": {
        "root": R + "/train", "files": 21, "readable": 18,
        "classes": [cls("bird", 1, 0, 18, 3), cls("cat", 10, 8, 18, 3), cls("dog", 10, 10, 18, 3)],
        "unreadable": {"count": 3, "fraction": 3 / 21, "exceeds_max_bad_fraction": True,
                       "files": [{"path": T + p, "reason": T + p + ": " + r} for p, r in bad]},
        "notes": {
            "cmyk": lst(T + "cat/cmyk.jpg", T + "cat/ycck.jpg"),
            "16bit": lst(T + "cat/rgb16.png", T + "dog/gray16.png"),
            "palette": lst(T + "cat/pal4.png"),
            "alpha": lst(T + "cat/graya8.png", T + "dog/sub/rgba8.png"),
            "grayscale": lst(T + "cat/gray.jpg", T + "cat/graya8.png", T + "dog/gray16.png",
                             T + "dog/gray_copy.jpg"),
            "exif_rotated": lst(T + "cat/exif6.jpg", T + "dog/rgb8_exif6.png"),
            "smaller_than_image_size": lst(T + "dog/col.png", T + "dog/one.png", T + "dog/row.png"),
            "extreme_aspect": lst(T + "dog/wide.png")},
        "sizes": {"short_side": {"min": 1, "median": 29, "max": 375},
                  "long_side": {"min": 1, "median": 37, "max": 500}},
        "skipped": {
            "hidden": lst(T + ".ipynb_checkpoints", T + "cat/.DS_Store", T + "cat/.cache"),
            "links_not_followed": lst(T + "dog/link"),
            "other_extensions": lst(T + "cat/notes.txt"),
            "outside_classes": lst(T + "readme.md")}},
    "val": {
        "root": R + "/val", "files": 3, "readable": 3,
        "classes": [cls("bird", 0, 0, 3, 3), cls("cat", 2, 2, 3, 3), cls("dog", 1, 1, 3, 3)],
        "unreadable": {"count": 0, "fraction": 0, "exceeds_max_bad_fraction": False, "files": []},
        "notes": no_notes,
        "sizes": {"short_side": {"min": 47, "median": 47, "max": 375},
                  "long_side": {"min": 61, "median": 61, "max": 500}},
        "skipped": no_skips},
    "class_mismatch": None,
    "duplicates": {
        "within_class": 1, "cross_class": 1, "leak": 1,
        "groups": [
            {"images": [{"set": "data", "class": "cat", "path": T + "cat/gray.jpg"},
                        {"set": "data", "class": "dog", "path": T + "dog/gray_copy.jpg"}],
             "within_class": False, "cross_class": True, "leak": False},
            {"images": [{"set": "data", "class": "cat", "path": T + "cat/photo.jpg"},
                        {"set": "val", "class": "cat", "path": V + "cat/photo.jpg"}],
             "within_class": False, "cross_class": False, "leak": True},
            {"images": [{"set": "data", "class": "dog", "path": T + "dog/rgb8.png"},
                        {"set": "data", "class": "dog", "path": T + "dog/sub/rgba8.png"}],
             "within_class": True, "cross_class": False, "leak": False}]},
}

errors = []
def compare(w, g, where):  # every field: same keys, same types, equal values
    if isinstance(w, dict):
        if not isinstance(g, dict) or set(w) != set(g):
            errors.append(f"{where}: keys {sorted(g) if isinstance(g, dict) else g!r}, want {sorted(w)}")
            return
        for k in w:
            compare(w[k], g[k], f"{where}.{k}")
    elif isinstance(w, list):
        if not isinstance(g, list) or len(w) != len(g):
            errors.append(f"{where}: {g!r}, want {w!r}")
            return
        for i, (a, b) in enumerate(zip(w, g)):
            compare(a, b, f"{where}[{i}]")
    elif isinstance(w, bool) or w is None or isinstance(w, str):
        if g != w or type(g) != type(w):
            errors.append(f"{where}: {g!r}, want {w!r}")
    elif isinstance(g, bool) or not isinstance(g, (int, float)) or abs(g - w) > 1e-12 * max(1, abs(w)):
        errors.append(f"{where}: {g!r}, want {w!r}")
compare(want, got, "report")
for e in errors:
    print("  " + e)
sys.exit(1 if errors else 0)
EOF
then pass "JSON report: every field as expected"; else fail "JSON report differs (fields above)"; fi

run 1 "check (text) on the fixture" -- check --data "$D/train" --val "$D/val" --image-size 20
for frag in \
    "  3 classes, 21 image files, 18 readable" \
    "  bird          0    0.00%        -  (1)  EMPTY: no readable image" \
    "  cat           8   44.44%   0.7500  (2)  few: fewer than 10 images" \
    "  dog          10   55.56%   0.6000" \
    "  sizes as decoded: shorter side 1 / 29 / 375, longer side 1 / 37 / 500 (min / median / max)" \
    "  unreadable: 3 of 21 files (14.3%), more than max_bad_fraction 0.1: training stops" \
    "    $D/train/bird/garbage.jpg: not a PNG or JPEG" \
    "    $D/train/cat/lost.png: cannot open: No such file or directory" \
    "    $D/train/cat/trunc40.png: bad PNG: truncated PNG" \
    "    2  CMYK or YCCK JPEG" "    2  16 bits per sample" "    1  palette PNG" \
    "    2  transparency (alpha or tRNS) discarded" "    4  grayscale" \
    "    2  EXIF-rotated: training applies the rotation" \
    "    3  shorter side below image_size 20" "    1  longer side more than 3x the shorter" \
    "      $D/train/dog/wide.png" \
    "    3  hidden (the name starts with '.')" "      $D/train/cat/.cache" \
    "    1  link not followed" "      $D/train/dog/link" \
    "    1  not named .png, .jpg or .jpeg" "      $D/train/cat/notes.txt" \
    "    1  directly in the folder, in no class folder" "      $D/train/readme.md" \
    "exact duplicates (the same decoded pixels): 3 groups" \
    "  across classes (a labelling conflict): 1 group" \
    "      $D/train/dog/gray_copy.jpg  (data, class 'dog')" \
    "  between --data and --val (leakage): 1 group" \
    "      $D/val/cat/photo.jpg  (val, class 'cat')" \
    "  within a class (the image weighs twice or more): 1 group" \
    "      $D/train/dog/sub/rgba8.png  (data, class 'dog')" \
    "result: training would stop or be skewed:" \
    "  - $D/train: 3 of 21 image files are unreadable, more than max_bad_fraction 0.1: training stops" \
    "  - $D/val: class 'bird' has no image file: training stops" \
    "  - 1 image is in both --data and --val (leakage: validation accuracy is inflated)"; do
    has "text: $frag" out.txt "$frag"
done
lacks "text: a hidden folder is not decoded" out.txt ".ipynb_checkpoints/rgb8.png"
if [[ ! -s err.txt ]]; then pass "no progress bar when stderr is not a terminal"
else fail "stderr not empty without a terminal"; cat err.txt; fi

for t in 1 3; do
    run 1 "check --threads $t" -- check --data "$D/train" --val "$D/val" --image-size 20 --json --threads $t
    if cmp -s out.txt fixture.json; then pass "--threads $t: the same report"
    else fail "--threads $t: another report"; diff out.txt fixture.json | head; fi
done
cat > cfg.json << EOF
{"data": {"train": "ds/train", "val": "ds/val", "image_size": 20}, "output": "runs/x"}
EOF
run 1 "check --config" -- check --config cfg.json --json
if cmp -s out.txt fixture.json; then pass "--config: the report of the same options"
else fail "--config: another report"; diff out.txt fixture.json | head; fi
run 1 "check --config with --image-size and --max-bad-fraction" -- check --config cfg.json \
    --image-size 224 --max-bad-fraction 0.5 --json
has "--image-size overrides the config" out.txt '"image_size":	224'
has "--max-bad-fraction is used" out.txt '"exceeds_max_bad_fraction":	false'
lacks "--max-bad-fraction: no unreadable problem" out.txt "image files are unreadable"
cat > cfg2.json << EOF
{"data": {"train": "ds/train", "exif_orientation": false, "max_pixels": 3000}, "output": "runs/x"}
EOF
run 1 "check --config (exif off, small pixel cap)" -- check --config cfg2.json
has "exif_orientation false: said" out.txt "EXIF-rotated: training does NOT apply it"
has "max_pixels: a cap error is unreadable" out.txt "photo.jpg: JPEG of 500x375 pixels exceeds the cap of 3000 pixels"
[[ -d runs ]] && fail "--config: the output directory was created" || pass "--config writes nothing"
listing "$D" > after.txt
if cmp -s before.txt after.txt; then pass "the folder's listing, sizes, modes and mtimes are unchanged"
else fail "check changed the folder"; diff before.txt after.txt; fi

# ---- 2. a clean folder, then one change at a time ----
C=$W/clean
mkdir -p "$C/train/a" "$C/train/b" "$C/val/a" "$C/val/b"
cp "$IMAGES/photo.jpg" "$IMAGES/baseline444.jpg" "$C/train/a/"
cp "$IMAGES/rgb8.png" "$IMAGES/tall.png" "$C/train/b/"
cp "$IMAGES/baseline422.jpg" "$C/val/a/"
cp "$IMAGES/progressive.jpg" "$C/val/b/"
clean() { run "$1" "$2" -- check --data "$C/train" --val "$C/val" --image-size 16 "${@:3}"; }
clean 0 "a clean folder"
has "clean: said" out.txt "result: nothing here would stop or silently skew training"
lacks "clean: no note" out.txt "loads, but"
clean 0 "a clean folder, --json" --json
has "clean --json: ok" out.txt '"ok":	true'
has "clean --json: no problem" out.txt '"problems":	[]'
cp "$IMAGES/photo.jpg" "$C/train/b/photo_b.jpg"
clean 1 "a duplicate across classes"
has "cross-class: its line" out.txt "  - 1 image is under more than one class (a labelling conflict)"
rm "$C/train/b/photo_b.jpg"
cp "$IMAGES/tall.png" "$C/val/b/"
clean 1 "a validation image that is also a training image"
has "leak: its line" out.txt "  - 1 image is in both --data and --val"
rm "$C/val/b/tall.png"
mkdir "$C/train/c" "$C/val/c"
cp "$IMAGES/pal4.png" "$C/val/c/"
clean 1 "an empty class folder"
has "empty class: its line" out.txt "  - $C/train: class 'c' has no image file: training stops"
cp "$IMAGES/garbage.jpg" "$C/train/c/"
clean 1 "a class of unreadable files only"
has "unreadable class: its line" out.txt "class 'c' has no readable image (1 unreadable)"
rm -r "$C/train/c"
clean 1 "--val with a class that --data lacks"
has "class mismatch: its line" out.txt "class 'c' is not a class of the training folder"
rm -r "$C/val/c"
cp "$IMAGES/trunc_scan.jpg" "$C/train/a/"
clean 1 "1 unreadable file of 5 (more than 10%)"
has "bad fraction: its line" out.txt "1 of 5 image files are unreadable, more than max_bad_fraction 0.1"
clean 0 "the same with --max-bad-fraction 0.2" --max-bad-fraction 0.2
has "bad within the fraction: listed" out.txt "within max_bad_fraction 0.2: training skips them"
rm "$C/train/a/trunc_scan.jpg"
cp "$IMAGES/rgb8.png" "$C/train/b/again.png"
cp "$IMAGES/cmyk.jpg" "$IMAGES/graya16.png" "$C/train/a/"
mkdir "$C/train/.git"
echo x > "$C/train/a/labels.csv"
clean 0 "a duplicate within a class, CMYK, 16-bit gray+alpha, hidden, other extension: informational"
has "informational: within-class group" out.txt "  within a class (the image weighs twice or more): 1 group"
has "informational: CMYK" out.txt "    1  CMYK or YCCK JPEG"
has "informational: 16-bit" out.txt "    1  16 bits per sample"
has "informational: result" out.txt "result: nothing here would stop or silently skew training"
run 1 "--data alone: no val, no leak" -- check --data "$D/train" --json
has "--data alone: val null" out.txt '"val":	null'
has "--data alone: no leak" out.txt '"leak":	0,'

# ---- 3. usage, config and folder errors; the progress bar ----
run 2 "no --data" -- check
has "no --data: said" err.txt "--data DIR (or --config FILE) is required"
run 2 "--image-size 0" -- check --data "$C/train" --image-size 0
run 2 "--max-bad-fraction 2" -- check --data "$C/train" --max-bad-fraction 2
has "--max-bad-fraction 2: named" err.txt "--max-bad-fraction must be a number in [0, 1] (got '2')"
run 2 "--threads 2000" -- check --data "$C/train" --threads 2000
run 2 "an unknown option" -- check --data "$C/train" --bogus
echo '{"data": {"train": "x", "imagesize": 3}, "output": "o"}' > bad.json
run 2 "a config with an unknown key" -- check --config bad.json
has "bad config: the key" err.txt 'imagesize'
run 2 "a missing config" -- check --config none.json
run 1 "a missing folder" -- check --data "$W/nowhere"
has "missing folder: named" err.txt "$W/nowhere: cannot open dataset folder"
run 1 "a folder without class folders" -- check --data "$C/val/a"
run 0 "--help" -- check --help
has "--help: the options" out.txt "--max-bad-fraction"
script -qec "'$BIN' check --data '$C/train' --val '$C/val' --image-size 16" /dev/null > tty.txt 2>&1
has "a terminal gets the progress bar" tty.txt "check: decoding ["
has "a terminal gets the report" tty.txt "result: nothing here would stop"

echo "$npass passed, $nfail failed"
[[ $nfail -eq 0 ]]
