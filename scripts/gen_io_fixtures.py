#!/usr/bin/python3
"""Fixtures for tests/test_io.c, written by Debian's torch (run with /usr/bin/python3).

  gen_io_fixtures.py small OUTDIR     small committed fixtures (tests/data/io): every dtype,
                                      views/transposes/shared storages, 0-dim, zip + legacy,
                                      a deflated re-zip, expanded tensors, the hostile corpus
  gen_io_fixtures.py resnet OUTDIR    resnet18 state_dicts (122 entries, and 102 without
                                      num_batches_tracked like resnet18-f37072fd.pth), zip and
                                      legacy, plus the expected tensors as safetensors
                                      (generated at test time into the build dir: ~180 MB)
  gen_io_fixtures.py check PTH ST EXPECTED KIND [PTH ST EXPECTED KIND ...]
                                      checks files tgfinetune wrote: torch.load(PTH,
                                      weights_only=True) and a pure-Python safetensors reader on
                                      ST give exactly the tensors of EXPECTED; with KIND=resnet,
                                      torchvision's resnet18().load_state_dict(strict=True)
                                      accepts them and predicts as the original (KIND=plain: no
                                      model check). One process for all groups: torch imports
                                      once.
Expected tensors are stored as safetensors by the tiny pure-Python writer below (Debian has
no python3-safetensors), which is independent of tgfinetune's C code.
"""
import collections
import io
import json
import os
import random
import struct
import sys
import zipfile

import torch

ST_DTYPES = {
    torch.float32: "F32", torch.float64: "F64", torch.float16: "F16", torch.bfloat16: "BF16",
    torch.int64: "I64", torch.int32: "I32", torch.int16: "I16", torch.int8: "I8",
    torch.uint8: "U8", torch.bool: "BOOL",
}
ST_NAMES = {v: k for k, v in ST_DTYPES.items()}


def raw_bytes(t):
    t = t.contiguous().reshape(-1)
    if t.numel() == 0:
        return b""
    return t.view(torch.uint8).numpy().tobytes()


def st_write(path, sd, metadata=None):
    header, blobs, off = {}, [], 0
    if metadata:
        header["__metadata__"] = metadata
    for k, t in sd.items():
        b = raw_bytes(t)
        header[k] = {"dtype": ST_DTYPES[t.dtype], "shape": list(t.shape),
                     "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def st_read(path):
    data = open(path, "rb").read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    buf = data[8 + n:]
    meta = header.pop("__metadata__", {})
    out = collections.OrderedDict()
    for k, v in header.items():
        b, e = v["data_offsets"]
        dt = ST_NAMES[v["dtype"]]
        if e == b:
            out[k] = torch.empty(v["shape"], dtype=dt)
        else:
            out[k] = torch.frombuffer(bytearray(buf[b:e]), dtype=torch.uint8).view(dt).reshape(
                v["shape"])
    return out, meta


def same(a, b):
    """Bit-identical: same keys in the same order, dtypes, shapes and bytes."""
    if list(a.keys()) != list(b.keys()):
        return "keys differ: %s vs %s" % (list(a.keys())[:5], list(b.keys())[:5])
    for k in a:
        x, y = a[k], b[k]
        if x.dtype != y.dtype or tuple(x.shape) != tuple(y.shape):
            return "%s: %s%s vs %s%s" % (k, x.dtype, tuple(x.shape), y.dtype, tuple(y.shape))
        if raw_bytes(x) != raw_bytes(y):
            return "%s: values differ" % k
    return None


def every_dtype_sd():
    g = torch.Generator().manual_seed(1234)
    sd = collections.OrderedDict()
    special = torch.tensor([float("nan"), float("inf"), -float("inf"), -0.0, 1e-40, 65504.0])
    for dt in [torch.float32, torch.float64, torch.float16, torch.bfloat16]:
        sd["float.%s" % str(dt)[6:]] = torch.cat(
            [torch.randn(3, 5, generator=g).reshape(-1), special]).to(dt).reshape(3, 7)
    for dt, lo, hi in [(torch.int64, -2**62, 2**62), (torch.int32, -2**31, 2**31 - 1),
                       (torch.int16, -2**15, 2**15 - 1), (torch.int8, -128, 127),
                       (torch.uint8, 0, 255)]:
        sd["int.%s" % str(dt)[6:]] = torch.cat(
            [torch.randint(lo, hi, (10,), generator=g, dtype=dt),
             torch.tensor([lo, hi, 0], dtype=dt)])
    sd["bool"] = torch.tensor([[True, False, True], [False, False, True]])
    # views into shared storages
    base = torch.arange(60, dtype=torch.float32) * 0.5
    sd["view.base"] = base
    sd["view.offset"] = base[7:19].view(3, 4)
    sd["view.transpose"] = base[:12].view(3, 4).t()
    sd["view.strided"] = base[1::7]
    sd["view.permute4d"] = base.view(2, 5, 3, 2).permute(3, 1, 0, 2)
    sd["view.expand"] = base[5:8].view(3, 1).expand(3, 4)
    sd["view.int64.offset"] = torch.arange(40, dtype=torch.int64)[30:]
    sd["scalar.f32"] = torch.tensor(3.25)
    sd["scalar.i64"] = torch.tensor(12345678901, dtype=torch.int64)  # like num_batches_tracked
    sd["empty"] = torch.zeros(0, 3)
    sd["rank5"] = torch.arange(2 * 3 * 1 * 2 * 50, dtype=torch.float32).reshape(2, 3, 1, 2, 50)
    return sd


def zip_bytes(entries, deflate=False):
    f = io.BytesIO()
    with zipfile.ZipFile(f, "w", zipfile.ZIP_DEFLATED if deflate else zipfile.ZIP_STORED) as z:
        for name, data in entries:
            z.writestr(name, data)
    return f.getvalue()


def pickle_zip(pkl, records=(), prefix="archive"):
    ents = [(prefix + "/data.pkl", pkl)]
    ents += [(prefix + "/data/" + k, v) for k, v in records]
    ents.append((prefix + "/version", b"3\n"))
    return zip_bytes(ents)


def X(s):  # BINUNICODE
    b = s.encode()
    return b"X" + struct.pack("<I", len(b)) + b


def tensor_pkl(numel, offset, size, stride, key="0", storage="FloatStorage", extra=b""):
    def tup(v):
        return b"(" + b"".join(b"J" + struct.pack("<i", x) for x in v) + b"t"
    return (b"\x80\x02ccollections\nOrderedDict\n)R(" + X("w") +
            b"ctorch._utils\n_rebuild_tensor_v2\n((" + X("storage") + b"ctorch\n" +
            storage.encode() + b"\n" + X(key) + X("cpu") + b"J" + struct.pack("<i", numel) +
            b"tQ" + b"J" + struct.pack("<i", offset) + tup(size) + tup(stride) + extra +
            b"\x89ccollections\nOrderedDict\n)RtRu.")


def tensors_pkl(tensors):
    """An OrderedDict of FloatStorage views: (name, numel, offset, size, stride, key) each."""
    def tup(v):
        return b"(" + b"".join(b"J" + struct.pack("<i", x) for x in v) + b"t"
    body = b""
    for name, numel, offset, size, stride, key in tensors:
        body += (X(name) + b"ctorch._utils\n_rebuild_tensor_v2\n((" + X("storage") +
                 b"ctorch\nFloatStorage\n" + X(key) + X("cpu") + b"J" +
                 struct.pack("<i", numel) + b"tQ" + b"J" + struct.pack("<i", offset) +
                 tup(size) + tup(stride) + b"\x89ccollections\nOrderedDict\n)RtR")
    return b"\x80\x02ccollections\nOrderedDict\n)R(" + body + b"u."


def hostile(out):
    h = os.path.join(out, "hostile")
    os.makedirs(h, exist_ok=True)

    def put(name, data):
        with open(os.path.join(h, name), "wb") as f:
            f.write(data)

    f32 = struct.pack("<4f", 1, 2, 3, 4)
    put("os_system.pth", pickle_zip(b"\x80\x02cos\nsystem\n" + X("echo pwned") + b"\x85R."))
    put("builtins_eval.pth", pickle_zip(
        b"\x80\x04" + b"\x8c\x08builtins\x8c\x04eval\x93" + X("1") + b"\x85R."))
    put("setitem_list.pth", pickle_zip(b"\x80\x02]" + X("a") + X("b") + b"s."))
    put("setitems_tuple.pth", pickle_zip(b"\x80\x02)(" + X("a") + X("b") + b"u."))
    put("bad_memo.pth", pickle_zip(b"\x80\x02}h\x07."))
    put("huge_memo.pth", pickle_zip(b"\x80\x02}r\xff\xff\xff\x7f."))
    put("mark_depth.pth", pickle_zip(b"\x80\x02" + b"(" * 20000 + b"."))
    put("reduce_dict.pth", pickle_zip(b"\x80\x02})R."))
    put("build_list.pth", pickle_zip(b"\x80\x02]}b."))
    put("storage_small.pth", pickle_zip(tensor_pkl(100, 0, [10, 10], [10, 1]),
                                        [("0", f32)]))
    put("view_oob.pth", pickle_zip(tensor_pkl(4, 2, [2, 2], [2, 1]), [("0", f32)]))
    put("huge_dims.pth", pickle_zip(tensor_pkl(4, 0, [1] * 100, [1] * 100), [("0", f32)]))
    put("missing_record.pth", pickle_zip(tensor_pkl(4, 0, [4], [1], key="7"), [("0", f32)]))
    put("not_a_tensor.pth", pickle_zip(b"\x80\x02}" + X("w") + b"K\x05s."))
    put("no_stop.pth", pickle_zip(b"\x80\x02}" + X("w")))
    put("big_endian.pth", zip_bytes([("archive/data.pkl", tensor_pkl(4, 0, [4], [1])),
                                     ("archive/byteorder", b"big"),
                                     ("archive/data/0", f32)]))
    # views far larger than their storage (stride 0 as expand() makes, overlapping strides):
    # past the decode budget (lib/io/pth.h) before anything is allocated
    one = struct.pack("<f", 1)
    put("expand_huge.pth", pickle_zip(tensor_pkl(1, 0, [10**9], [0]), [("0", one)]))
    put("expand_many.pth", pickle_zip(tensors_pkl(
        [(n, 1, 0, [2**25], [0], "0") for n in ("a", "b", "c")]), [("0", one)]))
    ents = [("archive/data.pkl", tensor_pkl(40000, 0, [20000, 20000], [1, 1])),
            ("archive/data/0", bytes(160000)), ("archive/version", b"3\n")]
    put("overlap_huge.pth", zip_bytes(ents, deflate=True))
    good = pickle_zip(tensor_pkl(4, 0, [4], [1]), [("0", f32)], prefix="good")
    put("good_small.pth", good)
    put("truncated.pth", good[:len(good) // 2])
    put("empty.pth", b"")
    put("random.bin", random.Random(7).randbytes(4096))

    def st(header, data, n=None):
        hb = json.dumps(header).encode()
        return struct.pack("<Q", len(hb) if n is None else n) + hb + data

    ok = {"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}
    put("huge_header.safetensors", st(ok, bytes(8), n=1 << 40))
    put("header_past_eof.safetensors", st(ok, bytes(8), n=5000))
    put("overlap.safetensors", st({"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]},
                                   "b": {"dtype": "F32", "shape": [4], "data_offsets": [8, 24]}},
                                  bytes(24)))
    put("out_of_bounds.safetensors", st({"a": {"dtype": "F32", "shape": [1024],
                                               "data_offsets": [0, 4096]}}, bytes(16)))
    put("hole.safetensors", st({"a": {"dtype": "F32", "shape": [2], "data_offsets": [8, 16]}},
                               bytes(16)))
    put("size_mismatch.safetensors", st({"a": {"dtype": "F32", "shape": [3],
                                               "data_offsets": [0, 8]}}, bytes(8)))
    put("shape_overflow.safetensors", st({"a": {"dtype": "F32",
                                                "shape": [4194305, 4194305, 211106198978564],
                                                "data_offsets": [0, 16]}}, bytes(16)))
    put("huge_dims.safetensors", st({"a": {"dtype": "F32", "shape": [1] * 100,
                                           "data_offsets": [0, 4]}}, bytes(4)))
    put("bad_dtype.safetensors", st({"a": {"dtype": "F8_E4M3", "shape": [1],
                                           "data_offsets": [0, 1]}}, bytes(1)))
    put("bad_json.safetensors", struct.pack("<Q", 10) + b'{"a": [1, ' + bytes(8))
    put("dup_key.safetensors", struct.pack("<Q", 118) +
        b'{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},'
        b'"a":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}}' + b" " * 14 + bytes(2))
    put("meta_not_string.safetensors", st({"__metadata__": {"k": 3}}, b""))


def small(out):
    os.makedirs(out, exist_ok=True)
    sd = every_dtype_sd()
    torch.save(sd, os.path.join(out, "dtypes_zip.pth"))
    torch.save(sd, os.path.join(out, "dtypes_legacy.pth"), _use_new_zipfile_serialization=False)
    expected = collections.OrderedDict((k, v.contiguous()) for k, v in sd.items())
    st_write(os.path.join(out, "dtypes_expected.safetensors"), expected,
             {"written_by": "scripts/gen_io_fixtures.py"})
    # a user re-zip with deflate under another folder name (prefix read from the first entry)
    src = zipfile.ZipFile(os.path.join(out, "dtypes_zip.pth"))
    ents = [("renamed/" + i.filename.split("/", 1)[1], src.read(i)) for i in src.infolist()]
    with open(os.path.join(out, "dtypes_deflated.pth"), "wb") as f:
        f.write(zip_bytes(ents, deflate=True))
    # a training checkpoint holding the state_dict, and nn.Parameters (_rebuild_parameter)
    lin = torch.nn.Linear(3, 2)
    with torch.no_grad():
        lin.weight.copy_(torch.arange(6.0).reshape(2, 3))
        lin.bias.copy_(torch.tensor([-1.0, 1.0]))
    torch.save({"epoch": 3, "state_dict": lin.state_dict()}, os.path.join(out, "nested.pth"))
    torch.save(collections.OrderedDict([("weight", lin.weight), ("bias", lin.bias)]),
               os.path.join(out, "parameters.pth"))
    # expanded tensors as torch.save writes them (stride 0): a modest expansion must load
    torch.save(collections.OrderedDict([
        ("zeros", torch.zeros(1).expand(10**6)),
        ("rows", torch.arange(3.0).view(3, 1).expand(3, 2**20)),
        ("base", torch.arange(3.0))]), os.path.join(out, "expand.pth"))
    # pickle protocol 4 (FRAME, SHORT_BINUNICODE, MEMOIZE, STACK_GLOBAL)
    torch.save(lin.state_dict(), os.path.join(out, "protocol4.pth"), pickle_protocol=4)
    st_write(os.path.join(out, "linear_expected.safetensors"),
             collections.OrderedDict([("weight", lin.weight.detach()),
                                      ("bias", lin.bias.detach())]))
    hostile(out)


def resnet(out):
    import torchvision
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(0)
    m = torchvision.models.resnet18()
    m.eval()
    with torch.no_grad():  # non-trivial BN statistics
        for mod in m.modules():
            if isinstance(mod, torch.nn.BatchNorm2d):
                mod.running_mean.normal_()
                mod.running_var.uniform_(0.5, 2.0)
                mod.num_batches_tracked.fill_(7)
    sd = m.state_dict()
    torch.save(sd, os.path.join(out, "resnet18_122.pth"))
    torch.save(sd, os.path.join(out, "resnet18_122_legacy.pth"),
               _use_new_zipfile_serialization=False)
    # like resnet18-f37072fd.pth: contents re-saved, no num_batches_tracked, no _metadata
    sd102 = collections.OrderedDict((k, v.clone()) for k, v in sd.items()
                                    if not k.endswith("num_batches_tracked"))
    torch.save(sd102, os.path.join(out, "resnet18_102.pth"))
    st_write(os.path.join(out, "resnet18_122_expected.safetensors"), sd)
    st_write(os.path.join(out, "resnet18_102_expected.safetensors"), sd102)
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(3))
    torch.save(x, os.path.join(out, "resnet18_input.pt"))


def check(pth, st, expected, is_resnet):
    exp, _ = st_read(expected)
    got = torch.load(pth, weights_only=True)
    err = same(exp, got)
    if err:
        sys.exit("torch.load(%s, weights_only=True): %s" % (pth, err))
    got2, meta = st_read(st)
    err = same(exp, got2)
    if err:
        sys.exit("pure-Python safetensors reader on %s: %s" % (st, err))
    if is_resnet:
        import torchvision
        m = torchvision.models.resnet18()
        m.load_state_dict(got, strict=True)
        m.eval()
        ref = torchvision.models.resnet18()
        ref.load_state_dict(exp, strict=len(exp) == 122)
        ref.eval()
        x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(3))
        with torch.no_grad():
            if not torch.equal(m(x), ref(x)):
                sys.exit("resnet18 predictions differ after the round trip")
    print("ok: %s and %s hold the %d tensors of %s" % (pth, st, len(exp), expected))


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "small":
        small(sys.argv[2])
    elif len(sys.argv) >= 3 and sys.argv[1] == "resnet":
        resnet(sys.argv[2])
    elif len(sys.argv) >= 6 and sys.argv[1] == "check" and (len(sys.argv) - 2) % 4 == 0:
        for i in range(2, len(sys.argv), 4):
            check(sys.argv[i], sys.argv[i + 1], sys.argv[i + 2], sys.argv[i + 3] == "resnet")
    else:
        sys.exit(__doc__)
