#!/usr/bin/env python3
"""Exports a sentence-transformers BERT model to ONNX for benches/embed_compare.py, once.

  model.onnx           torch.onnx.export of the transformer alone (inputs input_ids,
                       attention_mask, token_type_ids; output last_hidden_state; batch and
                       sequence axes dynamic; opset 17; transformers' eager attention). Pooling
                       and normalisation stay outside, in numpy. The TorchScript exporter
                       (dynamo=False) by default: on all-MiniLM-L6-v2 the dynamo exporter's graph
                       (--exporter dynamo) ran with 12-27% less throughput under ORT, and with
                       SDPA attention (--attn sdpa) it adds IsNaN/Where over every score matrix.
  model-int8.onnx      onnxruntime.quantization.quantize_dynamic: int8 weights (QInt8, one scale
                       per tensor), activations quantised per batch at run time (QUInt8).
  model-int8-pc.onnx   the same with per-channel weight scales.
  export.json          what was done, with the versions and the check against PyTorch.

Everything loads from --model-dir (the local Hugging Face snapshot); nothing is downloaded.
The outputs are reused while export.json names the same model directory, opset, attention and
exporter; --force redoes them.
"""
import argparse, json, os, sys, time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def export(model_dir, out_dir, opset, attn="eager", exporter="torchscript"):
    import numpy as np
    import torch
    import onnx
    import onnxruntime as ort
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from transformers import AutoModel, AutoTokenizer

    out_dir.mkdir(parents=True, exist_ok=True)
    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModel.from_pretrained(model_dir, attn_implementation=attn).eval()

    class LastHidden(torch.nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.m(input_ids=input_ids, attention_mask=attention_mask,
                          token_type_ids=token_type_ids).last_hidden_state

    wrapped = LastHidden(model).eval()
    sample = ["An example sentence to trace the encoder with.",
              "A second, somewhat longer sentence so that the batch has padding in it."]
    enc = tok(sample, padding=True, truncation=True, max_length=256, return_tensors="pt")
    args = (enc["input_ids"], enc["attention_mask"], enc["token_type_ids"])
    names = ["input_ids", "attention_mask", "token_type_ids"]
    fp32 = out_dir / "model.onnx"
    t = time.perf_counter()
    with torch.no_grad():
        if exporter == "dynamo":  # torch.export + onnxscript; opset 18 native, converted down if lower
            batch, seq = torch.export.Dim("batch", min=1, max=1024), torch.export.Dim("sequence", min=1, max=512)
            torch.onnx.export(wrapped, args, str(fp32), input_names=names, output_names=["last_hidden_state"],
                              dynamic_shapes={n: {0: batch, 1: seq} for n in names}, opset_version=opset,
                              dynamo=True, external_data=False)
        else:  # the TorchScript exporter, as Optimum's export uses
            axes = {n: {0: "batch", 1: "sequence"} for n in names + ["last_hidden_state"]}
            torch.onnx.export(wrapped, args, str(fp32), input_names=names, output_names=["last_hidden_state"],
                              dynamic_axes=axes, opset_version=opset, dynamo=False, do_constant_folding=True)
    export_s = time.perf_counter() - t
    onnx.checker.check_model(str(fp32))
    m = onnx.load(str(fp32))
    opsets = {o.domain or "ai.onnx": o.version for o in m.opset_import}

    t = time.perf_counter()
    q_tensor, q_channel = out_dir / "model-int8.onnx", out_dir / "model-int8-pc.onnx"
    quantize_dynamic(str(fp32), str(q_tensor), weight_type=QuantType.QInt8, per_channel=False)
    quantize_dynamic(str(fp32), str(q_channel), weight_type=QuantType.QInt8, per_channel=True)
    quant_s = time.perf_counter() - t

    # Check: last_hidden_state of each model against PyTorch on a padded batch of different lengths.
    check = ["short", "A sentence of medium length about retrieval-augmented generation.",
             " ".join(["a much longer text that is truncated at 256 tokens"] * 60)]
    enc = tok(check, padding=True, truncation=True, max_length=256, return_tensors="np")
    feeds = {n: enc[n].astype(np.int64) for n in names}
    with torch.no_grad():
        ref = wrapped(*(torch.from_numpy(feeds[n]) for n in names)).numpy()
    mask = feeds["attention_mask"][..., None].astype(np.float32)
    ref_pooled = (ref * mask).sum(1) / mask.sum(1)
    checks = {}
    for p in (fp32, q_tensor, q_channel):
        s = ort.InferenceSession(str(p), providers=["CPUExecutionProvider"])
        got = s.run(["last_hidden_state"], feeds)[0]
        pooled = (got * mask).sum(1) / mask.sum(1)
        cos = (pooled * ref_pooled).sum(1) / (np.linalg.norm(pooled, axis=1) * np.linalg.norm(ref_pooled, axis=1))
        checks[p.name] = {"max_abs_diff_valid_tokens": float(np.abs((got - ref) * mask).max()),
                          "min_cos_pooled": float(cos.min()), "bytes": p.stat().st_size}
    info = {"model_dir": str(model_dir), "opset_requested": opset, "attn_implementation": attn, "opsets": opsets, "exporter": exporter,
            "export_s": round(export_s, 1), "quantize_s": round(quant_s, 1),
            "versions": {"torch": torch.__version__, "onnx": onnx.__version__, "onnxruntime": ort.__version__,
                         "onnxscript": _version("onnxscript"), "transformers": _version("transformers")},
            "check_vs_pytorch": checks}
    (out_dir / "export.json").write_text(json.dumps(info, indent=2) + "\n")
    return info


def _version(pkg):
    try:
        from importlib.metadata import version
        return version(pkg)
    except Exception:
        return None


def ensure(model_dir, out_dir, opset=17, attn="eager", exporter="torchscript", force=False):
    """Returns export.json's contents, exporting first unless a matching export is cached."""
    stamp = out_dir / "export.json"
    if not force and stamp.exists():
        info = json.loads(stamp.read_text())
        files = ("model.onnx", "model-int8.onnx", "model-int8-pc.onnx")
        if (info.get("model_dir") == str(model_dir) and info.get("opset_requested") == opset
                and info.get("attn_implementation") == attn and info.get("exporter") == exporter
                and all((out_dir / f).exists() for f in files)):
            return info
    return export(Path(model_dir), out_dir, opset, attn, exporter)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model-dir", required=True)
    ap.add_argument("--out-dir", default=str(Path(__file__).resolve().parent.parent / ".cache/bench-ort"))
    ap.add_argument("--opset", type=int, default=17)
    ap.add_argument("--attn", default="eager", choices=["eager", "sdpa"],
                    help="transformers' attention implementation to trace")
    ap.add_argument("--exporter", default="torchscript", choices=["torchscript", "dynamo"],
                    help="torch.onnx.export(dynamo=False) (default: faster graphs under ORT) or dynamo=True")
    ap.add_argument("--force", action="store_true")
    a = ap.parse_args()
    print(json.dumps(ensure(a.model_dir, Path(a.out_dir), a.opset, a.attn, a.exporter, a.force), indent=2))


if __name__ == "__main__":
    main()
