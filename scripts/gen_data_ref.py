#!/usr/bin/python3
"""gen_data_ref.py: fixtures and reference outputs for tests/test_data.c.

Run with Debian's /usr/bin/python3 (PIL 9.4, torchvision 0.14):
    /usr/bin/python3 scripts/gen_data_ref.py [tests/data/images]

Writes into the output folder:
  *.png / *.jpg       small images of every PNG colour type / bit depth / interlace and
                      every JPEG flavour, EXIF-rotated JPEGs, hostile files
  photo.jpg           a 500x375 natural-looking JPEG (Fashion-MNIST upscaled with noise)
  decode.tsv          name  width  height  ref-file   (PIL: exif_transpose + convert RGB)
  bad.tsv             name  expected-reason-substring
  resize.tsv          name  size  width  height  ref-file   (torchvision Resize on PIL)
  eval.tsv            name  resize  crop  ref-file          (Resize + CenterCrop, uint8)
  crop.tsv            name  top left h w  out  ref-file     (F.resized_crop, uint8)
  norm.bin            float32 (3, 56, 56) ToTensor+Normalize of eval(photo.jpg, 64, 56)
  folder_tree.txt     files/dirs/symlinks of a small ImageFolder tree (built at test time)
  folder_expected.tsv torchvision.datasets.ImageFolder's (relative path, class index)
Reference pixels are raw uint8 (H, W, 3) files named ref_*.rgb.
The YCCK JPEG is written by scripts/mk_ycck_jpeg.c (PIL cannot write YCCK).
"""
import gzip
import io
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import zlib

import numpy as np
from PIL import Image, ImageOps

import torch
import torchvision
import torchvision.transforms as T
import torchvision.transforms.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "..", "tests", "data", "images")
FMNIST = "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz"


def fmnist(n):
    with gzip.open(FMNIST, "rb") as f:
        f.read(16)
        return np.frombuffer(f.read(784 * n), dtype=np.uint8).reshape(n, 28, 28)


def natural(w, h, seed):
    """A natural-looking RGB image: Fashion-MNIST items upscaled, tinted, noisy."""
    rng = np.random.default_rng(seed)
    items = fmnist(8)
    base = Image.fromarray(items[seed % 8]).resize((w, h), Image.BICUBIC)
    g = np.asarray(base, dtype=np.float32)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    r = g * 0.8 + 40 * np.sin(xx / 17.0) + 30
    gg = g * 0.6 + 50 * np.cos(yy / 23.0) + 60
    b = 255 - g * 0.7 + 20 * np.sin((xx + yy) / 11.0)
    img = np.stack([r, gg, b], -1) + rng.normal(0, 12, (h, w, 3))
    return Image.fromarray(np.clip(img, 0, 255).astype(np.uint8), "RGB")


# ---- raw PNG writer: every colour type, bit depth and Adam7 (PIL cannot write all) ----
def png_chunk(t, data):
    c = struct.pack(">I", len(data)) + t + data
    return c + struct.pack(">I", zlib.crc32(t + data) & 0xFFFFFFFF)


def pack_row(samples, depth):
    """samples: 1-D array of ints for one row (all channels interleaved)."""
    if depth == 8:
        return bytes(np.asarray(samples, dtype=np.uint8))
    if depth == 16:
        return np.asarray(samples, dtype=">u2").tobytes()
    per = 8 // depth
    out = bytearray()
    for i in range(0, len(samples), per):
        v = 0
        chunk = list(samples[i:i + per]) + [0] * (per - len(samples[i:i + per]))
        for s in chunk:
            v = (v << depth) | int(s)
        out.append(v)
    return bytes(out)


def write_png(path, arr, ctype, depth, interlace=False, palette=None, trns=None, exif=None):
    """arr: (H, W, C) ints (C = channels of ctype; palette: indices)."""
    arr = np.asarray(arr)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    h, w = arr.shape[:2]
    raw = bytearray()
    passes = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4),
              (1, 0, 2, 2), (0, 1, 1, 2)] if interlace else [(0, 0, 1, 1)]
    for x0, y0, dx, dy in passes:
        sub = arr[y0::dy, x0::dx]
        if sub.shape[0] == 0 or sub.shape[1] == 0:
            continue
        for row in sub:
            raw += b"\0" + pack_row(row.reshape(-1), depth)
    data = b"\x89PNG\r\n\x1a\n"
    data += png_chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, ctype, 0, 0, 1 if interlace else 0))
    if palette is not None:
        data += png_chunk(b"PLTE", bytes(np.asarray(palette, dtype=np.uint8).reshape(-1)))
    if trns is not None:
        data += png_chunk(b"tRNS", trns)
    if exif is not None:
        data += png_chunk(b"eXIf", exif)
    data += png_chunk(b"IDAT", zlib.compress(bytes(raw), 9))
    data += png_chunk(b"IEND", b"")
    with open(path, "wb") as f:
        f.write(data)


def exif_bytes(orientation):
    e = Image.Exif()
    e[0x0112] = orientation
    return e.tobytes()


def save_rgb(name, img):
    a = np.asarray(img.convert("RGB"), dtype=np.uint8)
    fn = "ref_" + name.replace(".", "_") + ".rgb"
    with open(os.path.join(OUT, fn), "wb") as f:
        f.write(a.tobytes())
    return fn, a.shape[1], a.shape[0]


def pil_load(path):
    # torchvision's pil_loader + our EXIF policy (ImageOps.exif_transpose).
    with open(path, "rb") as f:
        img = Image.open(f)
        img = ImageOps.exif_transpose(img)
        return img.convert("RGB")


def main():
    if os.path.isdir(OUT):
        for fn in os.listdir(OUT):
            os.unlink(os.path.join(OUT, fn))
    os.makedirs(OUT, exist_ok=True)
    rng = np.random.default_rng(1234)
    W, H = 37, 29  # odd sizes exercise partial bytes, Adam7 passes and chroma edges
    rgb = np.asarray(natural(W, H, 1))
    gray = rgb.mean(-1).astype(np.int64)
    alpha = rng.integers(0, 256, (H, W))
    p = lambda n: os.path.join(OUT, n)

    good = []
    # --- PNG ---
    for d in (1, 2, 4, 8):
        write_png(p(f"gray{d}.png"), gray >> (8 - d), 0, d)
        good.append(f"gray{d}.png")
    g16 = (gray * 257 + rng.integers(0, 256, (H, W))).astype(np.int64)
    g16[:, :5] = rng.integers(0, 256, (H, 5))  # small values: PIL's "I" mode clips the rest
    write_png(p("gray16.png"), g16, 0, 16)
    write_png(p("gray8_trns.png"), gray, 0, 8, trns=struct.pack(">H", int(gray[0, 0])))
    write_png(p("gray8_interlaced.png"), gray, 0, 8, interlace=True)
    write_png(p("graya8.png"), np.stack([gray, alpha], -1), 4, 8)
    write_png(p("graya16.png"), np.stack([g16, alpha * 257], -1), 4, 16)
    write_png(p("rgb8.png"), rgb, 2, 8)
    write_png(p("rgb16.png"), rgb.astype(np.int64) * 257 + rng.integers(0, 256, rgb.shape), 2, 16)
    write_png(p("rgb8_interlaced.png"), rgb, 2, 8, interlace=True)
    write_png(p("rgb16_interlaced.png"), rgb.astype(np.int64) * 256 + 7, 2, 16, interlace=True)
    write_png(p("rgba8.png"), np.concatenate([rgb, alpha[..., None]], -1), 6, 8)
    write_png(p("rgba16.png"), np.concatenate([rgb, alpha[..., None]], -1).astype(np.int64) * 257, 6, 16)
    pal = rng.integers(0, 256, (16, 3))
    idx = (gray >> 4)
    write_png(p("pal4.png"), idx, 3, 4, palette=pal)
    pal8 = rng.integers(0, 256, (256, 3))
    write_png(p("pal8_trns.png"), gray, 3, 8, palette=pal8, trns=bytes(range(0, 256, 2)))
    write_png(p("pal8_interlaced.png"), gray, 3, 8, palette=pal8, interlace=True)
    write_png(p("rgb8_exif6.png"), rgb, 2, 8, exif=exif_bytes(6)[6:])
    write_png(p("one.png"), rgb[:1, :1], 2, 8)
    good += ["gray16.png", "gray8_trns.png", "gray8_interlaced.png", "graya8.png", "graya16.png",
             "rgb8.png", "rgb16.png", "rgb8_interlaced.png", "rgb16_interlaced.png", "rgba8.png",
             "rgba16.png", "pal4.png", "pal8_trns.png", "pal8_interlaced.png", "rgb8_exif6.png",
             "one.png"]
    # --- JPEG ---
    big = natural(61, 47, 2)
    big.save(p("baseline420.jpg"), quality=90)
    big.save(p("baseline444.jpg"), quality=90, subsampling=0)
    big.save(p("baseline422.jpg"), quality=85, subsampling=1)
    big.save(p("progressive.jpg"), quality=90, progressive=True)
    big.convert("L").save(p("gray.jpg"), quality=90)
    big.convert("CMYK").save(p("cmyk.jpg"), quality=90)
    cm = np.asarray(big.convert("CMYK")).copy()
    cm[..., 3] = (np.arange(61)[None, :] * 3 + np.arange(47)[:, None]) % 200  # some black
    with tempfile.TemporaryDirectory() as td:
        exe = os.path.join(td, "mk_ycck")
        subprocess.check_call(["cc", "-O1", "-o", exe, os.path.join(HERE, "mk_ycck_jpeg.c"), "-ljpeg"])
        raw = os.path.join(td, "in.cmyk")
        with open(raw, "wb") as f:
            f.write(cm.tobytes())
        subprocess.check_call([exe, raw, "61", "47", p("ycck.jpg")])
    for o in range(2, 9):
        big.save(p(f"exif{o}.jpg"), quality=90, exif=exif_bytes(o))
    # libjpeg warns "Corrupt JPEG data: 4 extraneous bytes before marker 0xda"; PIL loads
    # it silently with the clean file's pixels, so we must too
    b420 = open(p("baseline420.jpg"), "rb").read()
    sos = b420.index(b"\xff\xda")
    open(p("extraneous.jpg"), "wb").write(b420[:sos] + b"\x00\x11\x22\x33" + b420[sos:])
    shutil.copy(p("rgb8.png"), p("png_named.jpg"))  # PNG bytes, wrong extension
    good += ["baseline420.jpg", "baseline444.jpg", "baseline422.jpg", "progressive.jpg", "gray.jpg",
             "cmyk.jpg", "ycck.jpg"] + [f"exif{o}.jpg" for o in range(2, 9)] + ["png_named.jpg",
             "extraneous.jpg"]
    photo = natural(500, 375, 3)
    photo.save(p("photo.jpg"), quality=88)
    tall = natural(45, 80, 4)
    tall.save(p("tall.png"))
    good += ["photo.jpg", "tall.png"]

    with open(p("decode.tsv"), "w") as f:
        for n in good:
            fn, w, h = save_rgb(n, pil_load(p(n)))
            if n == "photo.jpg":  # large: the eval/resize references cover it
                os.unlink(os.path.join(OUT, fn))
                continue
            f.write(f"{n}\t{w}\t{h}\t{fn}\n")

    # --- hostile files ---
    open(p("empty.png"), "wb").close()
    data = open(p("rgb8.png"), "rb").read()
    open(p("trunc40.png"), "wb").write(data[:40])
    open(p("trunc_idat.png"), "wb").write(data[:len(data) * 2 // 3])
    jd = open(p("baseline420.jpg"), "rb").read()
    open(p("trunc_scan.jpg"), "wb").write(jd[:len(jd) * 2 // 3])
    pj = open(p("progressive.jpg"), "rb").read()
    open(p("trunc_progressive.jpg"), "wb").write(pj[:len(pj) * 3 // 4])
    open(p("garbage.jpg"), "wb").write(bytes(rng.integers(0, 256, 3000, dtype=np.uint8)))
    # IHDR claiming 100000 x 100000 (valid CRC) with a tiny IDAT
    ihdr = struct.pack(">IIBBBBB", 100000, 100000, 8, 2, 0, 0, 0)
    hp = b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", zlib.compress(b"\0" * 64)) + png_chunk(b"IEND", b"")
    open(p("huge.png"), "wb").write(hp)
    # JPEG whose SOF claims 65500 x 65500
    i = jd.index(b"\xff\xc0")
    hj = bytearray(jd)
    hj[i + 5:i + 9] = struct.pack(">HH", 65500, 65500)
    open(p("huge.jpg"), "wb").write(bytes(hj))
    bad = [("empty.png", "empty file"), ("trunc40.png", "truncated"), ("trunc_idat.png", "truncated"),
           ("trunc_scan.jpg", "JPEG"), ("trunc_progressive.jpg", "JPEG"), ("garbage.jpg", "not a PNG or JPEG"),
           ("huge.png", "exceeds the cap"), ("huge.jpg", "exceeds the cap")]
    with open(p("bad.tsv"), "w") as f:
        for n, why in bad:
            f.write(f"{n}\t{why}\n")

    # --- transforms (torchvision on PIL images) ---
    with open(p("resize.tsv"), "w") as f:
        for n, size in [("tall.png", 64), ("tall.png", 20), ("tall.png", 45), ("baseline444.jpg", 33),
                        ("rgb8.png", 100), ("photo.jpg", 97), ("one.png", 5)]:
            out = T.Resize(size)(pil_load(p(n)))
            fn, w, h = save_rgb(f"resize_{size}_{n}", out)
            f.write(f"{n}\t{size}\t{w}\t{h}\t{fn}\n")
    with open(p("eval.tsv"), "w") as f:
        for n, rs, cs in [("photo.jpg", 256, 224), ("photo.jpg", 64, 56), ("tall.png", 32, 28),
                          ("baseline420.jpg", 20, 24), ("rgba8.png", 30, 25)]:
            out = T.CenterCrop(cs)(T.Resize(rs)(pil_load(p(n))))
            fn, w, h = save_rgb(f"eval_{rs}_{cs}_{n}", out)
            assert (w, h) == (cs, cs)
            f.write(f"{n}\t{rs}\t{cs}\t{fn}\n")
    with open(p("crop.tsv"), "w") as f:
        for n, (t, l, h, w), s in [("photo.jpg", (30, 70, 200, 260), 56), ("photo.jpg", (0, 0, 375, 500), 64),
                                   ("tall.png", (10, 3, 20, 15), 24), ("tall.png", (5, 5, 30, 30), 30)]:
            out = F.resized_crop(pil_load(p(n)), t, l, h, w, [s, s])
            fn, _, _ = save_rgb(f"crop_{t}_{l}_{h}_{w}_{s}_{n}", out)
            f.write(f"{n}\t{t}\t{l}\t{h}\t{w}\t{s}\t{fn}\n")
    tf = T.Compose([T.Resize(64), T.CenterCrop(56), T.ToTensor(),
                    T.Normalize(mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225])])
    x = tf(pil_load(p("photo.jpg")))
    open(p("norm.bin"), "wb").write(x.numpy().astype("<f4").tobytes())

    # --- ImageFolder order (the test rebuilds this tree from folder_tree.txt) ---
    tree = ["d bird", "d cat", "d dog", "d cat/sub", "d cat/sub/deeper", "d cat/sub-x", "d cat/Sub",
            "f cat/b.jpg", "f cat/a.PNG", "f cat/A.jpeg", "f cat/notes.txt", "f cat/sub/z.png",
            "f cat/sub/deeper/y.jpg", "f cat/sub-x/c.png", "f cat/Sub/q.jpg", "f cat/a b.jpg",
            "f bird/x.JPG", "f bird/10.png", "f bird/9.png", "f bird/img.jpeg.bak",
            "f dog/one.png", "d dog/inner", "f dog/inner/two.jpg", "l dog/link ../bird",
            "f zz_not_a_class.jpg", "d Zebra", "f Zebra/z.jpg"]
    with tempfile.TemporaryDirectory() as td:
        for t in tree:
            kind, rest = t[0], t[2:]
            if kind == "d":
                os.makedirs(os.path.join(td, rest), exist_ok=True)
            elif kind == "f":
                os.makedirs(os.path.dirname(os.path.join(td, rest)), exist_ok=True)
                open(os.path.join(td, rest), "wb").close()
            else:
                src, target = rest.split(" ")
                os.symlink(target, os.path.join(td, src))
        ds = torchvision.datasets.ImageFolder(td, loader=lambda x: x)
        with open(p("folder_tree.txt"), "w") as f:
            f.write("\n".join(tree) + "\n")
        with open(p("folder_expected.tsv"), "w") as f:
            for path, c in ds.samples:
                f.write(f"{os.path.relpath(path, td)}\t{c}\t{ds.classes[c]}\n")


if __name__ == "__main__":
    main()
