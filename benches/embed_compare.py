#!/usr/bin/env python3
"""Side-by-side embedding throughput: ragops (candle) vs sentence-transformers (PyTorch).

Same model files, same texts, same thread count, same batch size; runs alternate between the two
implementations and the medians are compared. Run through benches/embed_compare.sh, which sets
up the venv. Workloads are built from ../shared/data/chunking-eval/corpora:

  short    ~15-token sentences
  256tok   windows of exactly 254 tokens (256 with [CLS]/[SEP])
  mixed    paragraphs packed up to 256 tokens: the mixed lengths of a real Markdown corpus
"""
import argparse, json, os, re, statistics, subprocess, sys, time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CORPORA = ROOT.parent / "shared/data/chunking-eval/corpora"


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
        if len(win) >= sizes["256tok"]:
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
    for name, items in (("short", short), ("256tok", win), ("mixed", mixed)):
        p = outdir / f"{name}.jsonl"
        with p.open("w", encoding="utf-8") as f:
            for t in items:
                f.write(json.dumps(t) + "\n")
        lens = [min(256, len(tok(t)["input_ids"])) for t in items]
        out[name] = (p, len(items), statistics.mean(lens))
    return out


def run_ragops(ragops, path, threads, batch, outfile):
    r = subprocess.run([ragops, "embed", "--input", str(path), "--output", str(outfile), "--threads", str(threads),
                        "--batch-size", str(batch), "--json", "-q"], capture_output=True, text=True, check=True)
    rep = json.loads(r.stdout)
    return rep["texts_per_sec"], rep["gflops_per_sec"]


def run_st(mdir, path, threads, batch, outfile):
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    r = subprocess.run([sys.executable, __file__, "--worker", "--model-dir", mdir, "--input", str(path),
                        "--threads", str(threads), "--batch-size", str(batch), "--out", str(outfile)],
                       capture_output=True, text=True, check=True, env=env)
    return json.loads(r.stdout.strip().splitlines()[-1])["texts_per_sec"]


def worker(args):
    import torch
    from sentence_transformers import SentenceTransformer
    torch.set_num_threads(args.threads)
    texts = [json.loads(l) for l in open(args.input, encoding="utf-8") if l.strip()]
    model = SentenceTransformer(args.model_dir, device="cpu")
    model.encode(texts[:8], batch_size=args.batch_size)  # warm-up, as ragops loads before timing
    t = time.perf_counter()
    vecs = model.encode(texts, batch_size=args.batch_size, normalize_embeddings=False)
    secs = time.perf_counter() - t
    with open(args.out, "w") as f:
        for v in vecs:
            f.write(json.dumps({"embedding": [float(x) for x in v]}) + "\n")
    print(json.dumps({"texts_per_sec": len(texts) / secs, "seconds": secs, "max_seq_length": model.max_seq_length}))


def min_cosine(a_path, b_path):
    import numpy as np
    a = np.array([json.loads(l)["embedding"] for l in open(a_path)])
    b = np.array([json.loads(l)["embedding"] for l in open(b_path)])
    cos = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    return float(cos.min())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--worker", action="store_true")
    ap.add_argument("--model-dir")
    ap.add_argument("--input")
    ap.add_argument("--out")
    ap.add_argument("--ragops", default=str(ROOT / "target/release/ragops"))
    ap.add_argument("--model", default="sentence-transformers/all-MiniLM-L6-v2")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--workloads", default="short,256tok,mixed")
    ap.add_argument("--sizes", default="short=1000,256tok=100,mixed=300")
    args = ap.parse_args()
    if args.worker:
        return worker(args)
    from transformers import AutoTokenizer
    mdir = model_dir(args.ragops, args.model)
    tok = AutoTokenizer.from_pretrained(mdir)
    sizes = {k: int(v) for k, v in (kv.split("=") for kv in args.sizes.split(","))}
    outdir = ROOT / ".cache/bench"
    outdir.mkdir(parents=True, exist_ok=True)
    work = build_workloads(tok, outdir, sizes)
    print(f"model {args.model} ({mdir}); threads {args.threads}; batch {args.batch_size}; {args.runs} alternating runs")
    print(f"{'workload':<8} {'texts':>6} {'tokens':>7} {'ragops/s':>9} {'st/s':>9} {'ratio':>6} {'GFLOP/s':>8} {'min cos':>8}")
    for name in args.workloads.split(","):
        path, n, mean_len = work[name]
        ours, theirs, gf = [], [], []
        for _ in range(args.runs):
            t, g = run_ragops(args.ragops, path, args.threads, args.batch_size, outdir / f"{name}.ragops.jsonl")
            ours.append(t); gf.append(g)
            theirs.append(run_st(mdir, path, args.threads, args.batch_size, outdir / f"{name}.st.jsonl"))
        cos = min_cosine(outdir / f"{name}.ragops.jsonl", outdir / f"{name}.st.jsonl")
        o, s = statistics.median(ours), statistics.median(theirs)
        print(f"{name:<8} {n:>6} {mean_len:>7.1f} {o:>9.1f} {s:>9.1f} {o / s:>6.2f} {statistics.median(gf):>8.1f} {cos:>8.5f}")


if __name__ == "__main__":
    main()
