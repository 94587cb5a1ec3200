#!/usr/bin/env bash
# check_fixture.sh DIR IMAGES: builds the dataset that `tgfinetune check` is tested on
# (tests/test_check.c, tests/cli_check.sh): DIR/train and DIR/val holding one of each
# problem, from the decoder fixtures in IMAGES (tests/data/images) plus three small PNGs
# written here with Python's standard library. DIR must not exist.
#
# train/ (classes bird, cat, dog; 21 image files, 3 unreadable):
#   bird/garbage.jpg          not a PNG or JPEG: bird has no readable image (empty class)
#   cat/cmyk.jpg ycck.jpg     CMYK and YCCK JPEGs
#   cat/rgb16.png             16-bit RGB          cat/pal4.png       palette
#   cat/graya8.png            gray + alpha        cat/gray.jpg       gray JPEG
#   cat/exif6.jpg             EXIF orientation 6 (decoded 47x61)
#   cat/photo.jpg             500x375, also in val/cat (leakage)
#   cat/trunc40.png           a truncated PNG     cat/lost.png       a dangling symlink
#   cat/notes.txt             another extension   cat/.DS_Store, cat/.cache/x.png  hidden
#   dog/gray_copy.jpg         a copy of cat/gray.jpg (a duplicate across classes)
#   dog/rgb8.png, dog/sub/rgba8.png  different files with the same decoded pixels
#   dog/gray16.png            16-bit gray         dog/rgb8_exif6.png  EXIF 6 in a PNG
#   dog/tall.png 45x80        dog/one.png 1x1     dog/wide.png 200x20 (aspect 10)
#   dog/row.png 2x1, dog/col.png 1x2   the same six bytes in two shapes (not duplicates)
#   dog/link -> ../cat        a link to another class's folder (not followed)
#   readme.md                 a file outside the class folders
#   .ipynb_checkpoints/       a hidden folder
# val/ (the same classes; bird is an empty folder):
#   cat/photo.jpg cat/baseline444.jpg dog/progressive.jpg
set -eu
D=$1
I=$2
mkdir "$D"
T=$D/train
V=$D/val
mkdir -p "$T/bird" "$T/cat/.cache" "$T/dog/sub" "$T/.ipynb_checkpoints" \
    "$V/bird" "$V/cat" "$V/dog"
cp "$I/garbage.jpg" "$T/bird/"
for f in cmyk.jpg ycck.jpg rgb16.png pal4.png graya8.png gray.jpg exif6.jpg photo.jpg \
    trunc40.png; do
    cp "$I/$f" "$T/cat/"
done
ln -s missing.png "$T/cat/lost.png"
echo "a note" > "$T/cat/notes.txt"
: > "$T/cat/.DS_Store"
cp "$I/rgb8.png" "$T/cat/.cache/x.png"
cp "$I/gray.jpg" "$T/dog/gray_copy.jpg"
for f in rgb8.png gray16.png rgb8_exif6.png tall.png one.png; do cp "$I/$f" "$T/dog/"; done
cp "$I/rgba8.png" "$T/dog/sub/"
ln -s ../cat "$T/dog/link"
echo "# data" > "$T/readme.md"
cp "$I/rgb8.png" "$T/.ipynb_checkpoints/"
/usr/bin/python3 - "$T/dog" << 'EOF'
import struct, sys, zlib

def png(path, w, h, rgb):  # 8-bit RGB, filter 0 on every row
    raw = b"".join(b"\0" + rgb[y * w * 3:(y + 1) * w * 3] for y in range(h))
    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
                + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))

d = sys.argv[1]
png(d + "/wide.png", 200, 20, bytes((x * 7 + y * 3) % 256 for y in range(20) for x in range(200) for _ in range(3)))
png(d + "/row.png", 2, 1, bytes([1, 2, 3, 4, 5, 6]))
png(d + "/col.png", 1, 2, bytes([1, 2, 3, 4, 5, 6]))
EOF
cp "$I/photo.jpg" "$I/baseline444.jpg" "$V/cat/"
cp "$I/progressive.jpg" "$V/dog/"
