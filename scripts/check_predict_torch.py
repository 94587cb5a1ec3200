#!/usr/bin/python3
# check_predict_torch.py MODEL PREDICT_JSON: checks `tgfinetune predict --json` against
# PyTorch. Loads MODEL (a model.safetensors written by train; parsed here with the standard
# library, as Debian has no python3-safetensors) into torchvision's resnet18, preprocesses
# each image with PIL and torchvision's transforms from the file's metadata (Resize,
# CenterCrop, ToTensor, Normalize) and compares every reported probability and the order.
# Exits 1 with the differences if any probability is off by more than 1e-4.
import json
import struct
import sys

import torch
import torchvision
from PIL import Image
from torchvision import transforms as T

model_path, pred_path = sys.argv[1], sys.argv[2]
raw = open(model_path, "rb").read()
n = struct.unpack("<Q", raw[:8])[0]
header = json.loads(raw[8:8 + n])
meta = header.pop("__metadata__")
dtypes = {"F32": torch.float32, "I64": torch.int64}
sd = {}
for key, v in header.items():
    s, e = v["data_offsets"]
    sd[key] = torch.frombuffer(bytearray(raw[8 + n + s:8 + n + e]), dtype=dtypes[v["dtype"]]).reshape(v["shape"])
classes = json.loads(meta["classes"])
model = torchvision.models.resnet18(num_classes=len(classes))
model.load_state_dict(sd)
model.eval()
tf = T.Compose([T.Resize(int(meta["resize"])), T.CenterCrop(int(meta["image_size"])), T.ToTensor(),
                T.Normalize(json.loads(meta["mean"]), json.loads(meta["std"]))])
bad = 0
for r in json.load(open(pred_path)):
    x = tf(Image.open(r["image"]).convert("RGB")).unsqueeze(0)
    with torch.no_grad():
        p = torch.softmax(model(x).double(), 1)[0]
    want = sorted(range(len(classes)), key=lambda i: (-p[i].item(), i))[:len(r["predictions"])]
    got = [e["index"] for e in r["predictions"]]
    for e in r["predictions"]:
        d = abs(e["probability"] - p[e["index"]].item())
        if d > 1e-4 or e["class"] != classes[e["index"]]:
            print(f"{r['image']}: {e['class']} probability {e['probability']} vs torch {p[e['index']].item()}")
            bad += 1
    if got != want and max(abs(p[i].item() - p[j].item()) for i, j in zip(got, want)) > 1e-4:
        print(f"{r['image']}: order {got} vs torch {want}")
        bad += 1
print(f"check_predict_torch: {bad} differences")
sys.exit(1 if bad else 0)
