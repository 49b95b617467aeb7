#!/usr/bin/env python3
"""Side-by-side embedding throughput: ragops (candle) vs sentence-transformers (PyTorch) vs
ONNX Runtime (fp32 and dynamically quantised int8).

Same model files, same texts, same thread count, same batch size; each engine runs in its own
process, the runs alternate between the engines and the medians are compared. Run through
benches/embed_compare.sh, which sets up the venv. Workloads are built from
../shared/data/chunking-eval/corpora:

  short     ~15-token sentences (1000)
  short500  the first 500 of them
  256tok    windows of exactly 254 tokens (256 with [CLS]/[SEP]) (100)
  256tok64  the first 64 of them
  mixed     paragraphs packed up to 256 tokens: the mixed lengths of a real Markdown corpus

The ONNX models come from benches/embed_ort_export.py (torch.onnx.export of the transformer,
then onnxruntime.quantization.quantize_dynamic), cached in .cache/bench-ort. The ORT worker
batches like sentence-transformers' encode(): texts sorted by decreasing character length,
batches of --batch-size, the model's own tokenizer with padding to the longest text of the
batch and truncation at max_seq_length (256), mean pooling over the attention mask and L2
normalisation in numpy. Cosines are against sentence-transformers' vectors (fp32 PyTorch).
"""
import argparse, json, os, re, statistics, subprocess, sys, time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CORPORA = ROOT.parent / "shared/data/chunking-eval/corpora"
ORT_DIR = ROOT / ".cache/bench-ort"
ORT_MODELS = {"ort-fp32": "model.onnx", "ort-int8": "model-int8.onnx", "ort-int8pc": "model-int8-pc.onnx"}
LABELS = {"st": "ST", "ort-fp32": "ORT fp32", "ort-int8": "ORT int8", "ort-int8pc": "ORT int8 pc", "ragops": "ragops f32",
          "ragops-bf16": "ragops bf16", "ragops-int8": "ragops int8",
          "ort-int8-vnni": "ORT int8 VNNI", "ragops-int8-vnni": "ragops int8 VNNI"}
# ragops engines: their --precision and RAGOPS_ISA (None: what the CPU has).
RAGOPS = {"ragops": ("f32", None), "ragops-bf16": ("bf16", None), "ragops-int8": ("int8", None),
          "ragops-int8-vnni": ("int8", "avx512")}
# ORT engines run without AMX (benches/noamx/noamx.c refuses the tile permission).
NO_AMX = {"ort-int8-vnni": "ort-int8"}
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def model_dir(ragops, model):
    out = subprocess.run([ragops, "model", "show", model], capture_output=True, text=True, check=True).stdout
    return re.search(r"dir\s+(\S+)", out).group(1)


def build_workloads(tok, outdir, sizes):
    texts = "\n\n".join(p.read_text(encoding="utf-8") for p in sorted(CORPORA.glob("*.md")))
    # short: sentences of 10-20 words.
    sents, seen = [], set()
    for s in re.split(r"(?<=[.!?])\s+", texts):
        s = " ".join(s.split())
        if 10 <= len(s.split()) <= 20 and s not in seen:
            seen.add(s)
            sents.append(s)
    short = sents[: sizes["short"]]
    # 256tok: consecutive 254-token windows, cut on token offsets.
    enc = tok(texts, add_special_tokens=False, return_offsets_mapping=True)
    offs = enc["offset_mapping"]
    win = []
    for i in range(0, len(offs) - 254, 254):
        win.append(texts[offs[i][0]: offs[i + 253][1]])
        if len(win) >= max(sizes["256tok"], sizes["256tok64"]):
            break
    # mixed: paragraphs packed greedily up to 256 tokens (with specials).
    mixed, cur, cur_n = [], [], 0
    for para in re.split(r"\n\s*\n", texts):
        para = para.strip()
        if not para:
            continue
        n = len(tok(para, add_special_tokens=False)["input_ids"])
        if cur and cur_n + n > 254:
            mixed.append("\n\n".join(cur))
            cur, cur_n = [], 0
        cur.append(para)
        cur_n += n
        if len(mixed) >= sizes["mixed"]:
            break
    out = {}
    for name, items in (("short", short), ("short500", sents[: sizes["short500"]]), ("256tok", win[: sizes["256tok"]]),
                        ("256tok64", win[: sizes["256tok64"]]), ("mixed", mixed)):
        p = outdir / f"{name}.jsonl"
        with p.open("w", encoding="utf-8") as f:
            for t in items:
                f.write(json.dumps(t) + "\n")
        lens = [min(256, len(tok(t)["input_ids"])) for t in items]
        out[name] = (p, len(items), statistics.mean(lens))
    return out


def run_ragops(ragops, path, threads, batch, outfile, precision="f32", isa=None):
    env = dict(os.environ)
    if isa:
        env["RAGOPS_ISA"] = isa
    r = subprocess.run([ragops, "embed", "--input", str(path), "--output", str(outfile), "--threads", str(threads),
                        "--batch-size", str(batch), "--precision", precision, "--json", "-q"],
                       capture_output=True, text=True, check=True, env=env)
    rep = json.loads(r.stdout)
    return rep["texts_per_sec"], rep["gflops_per_sec"]


def no_amx_shim():
    """benches/noamx/noamx.c built once into .cache/bench/noamx.so (gcc)."""
    src = ROOT / "benches/noamx/noamx.c"
    lib = ROOT / ".cache/bench/noamx.so"
    if not lib.exists() or lib.stat().st_mtime < src.stat().st_mtime:
        subprocess.run(["gcc", "-O2", "-shared", "-fPIC", "-o", str(lib), str(src), "-ldl"], check=True)
    return lib


def run_worker(engine, mdir, path, threads, batch, outfile, profile=None):
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    if engine in NO_AMX:
        env["LD_PRELOAD"] = str(no_amx_shim())
        engine = NO_AMX[engine]
    cmd = [sys.executable, __file__, "--worker", engine, "--model-dir", mdir, "--input", str(path),
           "--threads", str(threads), "--batch-size", str(batch), "--out", str(outfile)]
    if profile:
        cmd += ["--profile", str(profile)]
    r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if r.returncode != 0:
        sys.exit(f"{engine} worker failed:\n{r.stderr[-4000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])["texts_per_sec"]


def write_vectors(path, vecs):
    with open(path, "w") as f:
        for v in vecs:
            f.write(json.dumps({"embedding": [float(x) for x in v]}) + "\n")


def worker_st(args, texts):
    import torch
    from sentence_transformers import SentenceTransformer
    torch.set_num_threads(args.threads)
    model = SentenceTransformer(args.model_dir, device="cpu")
    model.encode(texts[:8], batch_size=args.batch_size)  # warm-up, as ragops loads before timing
    t = time.perf_counter()
    vecs = model.encode(texts, batch_size=args.batch_size, normalize_embeddings=False)
    secs = time.perf_counter() - t
    write_vectors(args.out, vecs)
    return {"texts_per_sec": len(texts) / secs, "seconds": secs, "max_seq_length": model.max_seq_length}


def worker_ort(args, texts):
    import numpy as np
    import onnxruntime as ort
    from transformers import AutoTokenizer
    max_len = json.loads((Path(args.model_dir) / "sentence_bert_config.json").read_text())["max_seq_length"]
    tok = AutoTokenizer.from_pretrained(args.model_dir)
    so = ort.SessionOptions()
    so.intra_op_num_threads = args.threads
    so.inter_op_num_threads = 1
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    sess = ort.InferenceSession(str(ORT_DIR / ORT_MODELS[args.worker]), so, providers=["CPUExecutionProvider"])
    names = [i.name for i in sess.get_inputs()]

    def encode(items):
        # As SentenceTransformer.encode on CPU: longest (in characters) first, fixed-size batches.
        order = np.argsort([-len(t) for t in items], kind="stable")
        chunks = []
        for s in range(0, len(items), args.batch_size):
            batch = [items[i] for i in order[s: s + args.batch_size]]
            enc = tok(batch, padding=True, truncation="longest_first", max_length=max_len, return_tensors="np")
            feeds = {n: enc[n].astype(np.int64) for n in names}
            hidden = sess.run(None, feeds)[0]
            mask = feeds["attention_mask"][..., None].astype(hidden.dtype)
            pooled = (hidden * mask).sum(1) / np.clip(mask.sum(1), 1e-9, None)
            pooled /= np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)
            chunks.append(pooled)
        out = np.empty((len(items), chunks[0].shape[1]), dtype=np.float32)
        out[order] = np.concatenate(chunks)
        return out

    encode(texts[:8])  # warm-up, as for sentence-transformers
    if args.profile:  # a fresh session that records every kernel; timings of this run are not reported
        so.enable_profiling = True
        so.profile_file_prefix = str(Path(args.profile).with_suffix(".ort"))
        sess = ort.InferenceSession(str(ORT_DIR / ORT_MODELS[args.worker]), so, providers=["CPUExecutionProvider"])
        encode(texts[:8])
    t = time.perf_counter()
    vecs = encode(texts)
    secs = time.perf_counter() - t
    if args.profile:
        prof = sess.end_profiling()
        summarise_profile(prof, args.profile)
    write_vectors(args.out, vecs)
    return {"texts_per_sec": len(texts) / secs, "seconds": secs, "max_seq_length": max_len}


def summarise_profile(prof_json, out_txt):
    """Kernel time per op type (and the session's run time) from an ORT profile."""
    ev = json.load(open(prof_json))
    by_op, runs = {}, 0.0
    for e in ev:
        if e.get("cat") == "Node" and e["name"].endswith("_kernel_time"):
            op = e.get("args", {}).get("op_name", "?")
            by_op[op] = by_op.get(op, 0) + e["dur"]
        elif e.get("cat") == "Session" and e["name"] == "model_run":
            runs += e["dur"]
    total = sum(by_op.values())
    with open(out_txt, "w") as f:
        f.write(f"model_run total {runs / 1e6:.3f} s; kernels {total / 1e6:.3f} s\n")
        for op, d in sorted(by_op.items(), key=lambda kv: -kv[1]):
            f.write(f"{op:<28} {d / 1e6:8.3f} s {100 * d / total:5.1f}%\n")


def worker(args):
    texts = [json.loads(l) for l in open(args.input, encoding="utf-8") if l.strip()]
    rep = worker_st(args, texts) if args.worker == "st" else worker_ort(args, texts)
    print(json.dumps(rep))


def cosines(a_path, b_path):
    import numpy as np
    a = np.array([json.loads(l)["embedding"] for l in open(a_path)])
    b = np.array([json.loads(l)["embedding"] for l in open(b_path)])
    cos = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    return float(cos.mean()), float(cos.min())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--worker", choices=["st", *ORT_MODELS])
    ap.add_argument("--model-dir")
    ap.add_argument("--input")
    ap.add_argument("--out")
    ap.add_argument("--profile", help="(worker) write ORT's per-op-type kernel times to this file")
    ap.add_argument("--ragops", default=str(ROOT / "target/release/ragops"))
    ap.add_argument("--model", default="sentence-transformers/all-MiniLM-L6-v2")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--workloads", default="short,short500,256tok,256tok64,mixed")
    ap.add_argument("--sizes", default="short=1000,short500=500,256tok=100,256tok64=64,mixed=300")
    ap.add_argument("--engines", default="st,ort-fp32,ort-int8,ort-int8pc,ragops,ragops-bf16,ragops-int8",
                    help="st (always run: the reference), ort-fp32, ort-int8, ort-int8pc (per-channel), "
                         "ragops (f32), ragops-bf16, ragops-int8; and, on CPUs with AMX, the VNNI-only pair "
                         "ort-int8-vnni (ORT refused the AMX tile state) and ragops-int8-vnni (RAGOPS_ISA=avx512): "
                         "what a CPU without AMX (AMD Zen 4) runs")
    ap.add_argument("--ort-profile", action="store_true",
                    help="after the timed runs, one profiled run of each ORT engine per workload "
                         "(per-op-type times in .cache/bench/<workload>.<engine>.profile.txt)")
    ap.add_argument("--opset", type=int, default=17)
    ap.add_argument("--ort-exporter", default="torchscript", choices=["torchscript", "dynamo"])
    args = ap.parse_args()
    if args.worker:
        return worker(args)
    from transformers import AutoTokenizer
    mdir = model_dir(args.ragops, args.model)
    tok = AutoTokenizer.from_pretrained(mdir)
    sizes = {"short": 1000, "short500": 500, "256tok": 100, "256tok64": 64, "mixed": 300}
    sizes.update({k: int(v) for k, v in (kv.split("=") for kv in args.sizes.split(","))})
    outdir = ROOT / ".cache/bench"
    outdir.mkdir(parents=True, exist_ok=True)
    work = build_workloads(tok, outdir, sizes)
    engines = ["st"] + [e for e in args.engines.split(",") if e != "st"]
    if any(e in ORT_MODELS or e in NO_AMX for e in engines):
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from embed_ort_export import ensure
        info = ensure(mdir, ORT_DIR, args.opset, exporter=args.ort_exporter)
        print(f"ONNX: {info['exporter']} export, opset {info['opsets']}; onnxruntime {info['versions']['onnxruntime']}, "
              f"torch {info['versions']['torch']}; models in {ORT_DIR}")
    others = [e for e in engines if e != "st"]
    print(f"model {args.model} ({mdir}); threads {args.threads}; batch {args.batch_size}; {args.runs} alternating runs; "
          f"texts/s (median), cosine to ST mean/min")
    head = f"{'workload':<9} {'texts':>5} {'tokens':>6}" + "".join(f" {LABELS[e] + '/s':>13}" for e in engines)
    head += f" {'GFLOP/s':>7}" + "".join(f" {'cos ' + LABELS[e]:>17}" for e in others)
    print(head, flush=True)
    rows = []
    for name in args.workloads.split(","):
        path, n, mean_len = work[name]
        tps = {e: [] for e in engines}
        gf = []
        for _ in range(args.runs):
            for e in engines:
                out = outdir / f"{name}.{e}.jsonl"
                if e in RAGOPS:
                    t, g = run_ragops(args.ragops, path, args.threads, args.batch_size, out, *RAGOPS[e])
                    if e == "ragops":
                        gf.append(g)
                else:
                    t = run_worker(e, mdir, path, args.threads, args.batch_size, out)
                tps[e].append(t)
        med = {e: statistics.median(v) for e, v in tps.items()}
        cos = {e: cosines(outdir / f"{name}.{e}.jsonl", outdir / f"{name}.st.jsonl") for e in others}
        line = f"{name:<9} {n:>5} {mean_len:>6.1f}" + "".join(f" {med[e]:>13.1f}" for e in engines)
        line += f" {statistics.median(gf) if gf else float('nan'):>7.1f}"
        line += "".join(f" {cos[e][0]:>8.5f}/{cos[e][1]:.5f}" for e in others)
        print(line, flush=True)
        rows.append((name, n, mean_len, med, cos, tps))
    print("\nmarkdown:")
    print("| workload | texts | mean tokens | " + " | ".join(f"{LABELS[e]}/s" for e in engines) + " | "
          + " | ".join(f"cos {LABELS[e]} mean / min" for e in others) + " |")
    print("|---" * (3 + len(engines) + len(others)) + "|")
    for name, n, mean_len, med, cos, _ in rows:
        print(f"| {name} | {n} | {mean_len:.1f} | " + " | ".join(f"{med[e]:.1f}" for e in engines) + " | "
              + " | ".join(f"{cos[e][0]:.4f} / {cos[e][1]:.4f}" for e in others) + " |")
    print("\nall runs (texts/s):")
    for name, _, _, _, _, tps in rows:
        print(f"  {name}: " + "; ".join(f"{e} " + ", ".join(f"{x:.1f}" for x in v) for e, v in tps.items()))
    if args.ort_profile:
        for name in args.workloads.split(","):
            for e in engines:
                if e in ORT_MODELS:
                    p = outdir / f"{name}.{e}.profile.txt"
                    run_worker(e, mdir, work[name][0], args.threads, args.batch_size, outdir / f"{name}.{e}.prof.jsonl",
                               profile=p)
                    print(f"\nORT profile {name} {e} ({p}):\n" + "".join(open(p).readlines()[:12]))


if __name__ == "__main__":
    main()
