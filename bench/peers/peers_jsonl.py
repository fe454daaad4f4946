#!/usr/bin/python3
"""Bookkeeping for bench/compare_peers.sh: collect benchmark JSON lines, print the comparison table.

    peers_jsonl.py add OUT.jsonl --engine NAME --config ID --threads N --rc RC [--busy F] --cmd "..." < output
        Appends every JSON object found on stdin (one per line) to OUT.jsonl, tagged with the
        configuration id, thread count and command; fills "engine" when the line has none (recur).
        With no JSON line on stdin, appends an error record instead so the table shows the gap.
    peers_jsonl.py meta OUT.jsonl KEY=VALUE...
        Appends one {"meta": true, ...} record describing the run.
    peers_jsonl.py table OUT.jsonl
        Markdown table: tokens/s medians per configuration and thread count for recur, oneDNN and
        PyTorch, and the ratios recur/oneDNN and recur/PyTorch (> 1: recur is faster). A ratio
        marked * is inside the run-to-run spread (the [min, max] ranges of the two overlap); a
        thread count marked ! had other processes using > 25 % of the CPU before one of its runs.

Only the standard library is used.
"""
import json
import sys

ENGINES = [("recur", "recur"), ("onednn", "oneDNN"), ("pytorch", "PyTorch")]
BUSY = 0.25  # share of the CPU used by others before a run above which a row is flagged


def cmd_add(out, argv):
    opts = dict(zip(argv[0::2], argv[1::2]))
    engine, config = opts["--engine"], opts["--config"]
    threads, rc, cmd = int(opts["--threads"]), int(opts["--rc"]), opts["--cmd"]
    busy = float(opts["--busy"]) if "--busy" in opts else None
    found = 0
    with open(out, "a") as f:
        for line in sys.stdin:
            line = line.strip()
            if not line.startswith("{"):
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue
            if not isinstance(rec, dict) or "tokens_per_s" not in rec:
                continue
            rec.setdefault("engine", engine)
            rec.update(config=config, threads_requested=threads, cmd=cmd, exit_code=rc, busy_before=busy)
            f.write(json.dumps(rec) + "\n")
            found += 1
            extra = f", {rec['us_per_token']:.0f} µs/token" if rec.get("mode") == "gen" else ""
            print(f"    {rec['engine']}: {rec['tokens_per_s']:.0f} tok/s "
                  f"[{rec['tokens_per_s_min']:.0f}-{rec['tokens_per_s_max']:.0f}]{extra}, "
                  f"{rec.get('gflops') or 0:.1f} GFLOP/s, {rec.get('peak_rss_mb') or 0:.0f} MB")
        if found == 0:
            f.write(json.dumps({"engine": engine, "config": config, "threads_requested": threads, "cmd": cmd,
                                "exit_code": rc, "busy_before": busy, "error": "no JSON result"}) + "\n")
            print(f"    {engine}: FAILED (exit code {rc}, no JSON result)")
    return 0 if found else 1


def cmd_meta(out, argv):
    rec = {"meta": True}
    for kv in argv:
        k, _, v = kv.partition("=")
        rec[k] = v
    with open(out, "a") as f:
        f.write(json.dumps(rec) + "\n")
    return 0


def family(engine):
    for prefix, _ in ENGINES:
        if engine.startswith(prefix):
            return prefix
    return None


def fmt_rate(rec):
    if rec is None:
        return "-"
    if "error" in rec:
        return "failed"
    s = f"{rec['tokens_per_s']:.0f}"
    if rec.get("mode") == "gen" and rec.get("us_per_token"):
        s += f" ({rec['us_per_token']:.0f} µs/tok)"
    return s


def ratio(a, b):
    if not a or not b or "error" in a or "error" in b:
        return "-"
    r = a["tokens_per_s"] / b["tokens_per_s"]
    overlap = a["tokens_per_s_min"] <= b["tokens_per_s_max"] and b["tokens_per_s_min"] <= a["tokens_per_s_max"]
    return f"{r:.2f}{'*' if overlap else ''}"


def cmd_table(path):
    rows, order, meta, versions = {}, [], {}, {}
    with open(path) as f:
        for line in f:
            rec = json.loads(line)
            if rec.get("meta"):
                meta.update(rec)
                continue
            fam = family(rec.get("engine", ""))
            if fam is None:
                continue
            if "error" not in rec:
                versions[fam] = rec["engine"]
            key = (rec["config"], rec.get("threads_requested", rec.get("threads")))
            if key not in rows:
                rows[key] = {}
                order.append(key)
            rows[key][fam] = rec  # a re-run of the same cell replaces the earlier one

    # recur's peak_fraction implies the ceiling it measures against (per row, as a mode may use its
    # own); the peers' GFLOP/s are expressed as shares of the same ceiling.
    def ceiling(cell):
        r = cell.get("recur")
        if r and "error" not in r and r.get("peak_fraction") and r.get("gflops"):
            return r["gflops"] / r["peak_fraction"]
        return None

    def gflops_cell(rec, top):
        if not rec or "error" in rec or not rec.get("gflops"):
            return "-"
        return f"{rec['gflops']:.0f}" + (f" ({100 * rec['gflops'] / top:.0f}%)" if top else "")

    if meta:
        print(f"Run {meta.get('date', '?')} on {meta.get('cpu', '?')} ({meta.get('cores', '?')} cores); "
              f"reps {meta.get('reps', '?')} x >= {meta.get('min_time', '?')} s; "
              + ", ".join(versions.get(p, name) for p, name in ENGINES) + "; "
              f"{meta.get('recur_version', 'recur ?')}; "
              f"OpenBLAS kernels (PyTorch): {meta.get('openblas_coretype', '?')}.")
        print()
    names = [name for _, name in ENGINES]
    head = ["config", "threads"] + [f"{n} tok/s" for n in names] + ["recur/oneDNN", "recur/PyTorch"] + \
        [f"{n} GFLOP/s" for n in names]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    any_ceiling = any_busy = False
    for key in order:
        config, threads = key
        cell = rows[key]
        r, d, p = (cell.get(fam) for fam, _ in ENGINES)
        busy = max((x.get("busy_before") or 0 for x in cell.values()), default=0)
        flag = "!" if busy > BUSY else ""
        any_busy = any_busy or bool(flag)
        line = [config, f"{threads}{flag}", fmt_rate(r), fmt_rate(d), fmt_rate(p), ratio(r, d), ratio(r, p)]
        top = ceiling(cell)
        any_ceiling = any_ceiling or top is not None
        line += [gflops_cell(x, top) for x in (r, d, p)]
        print("| " + " | ".join(line) + " |")
    print()
    print("tok/s: median over repetitions. Ratios > 1: recur faster; * = the [min, max] ranges overlap "
          "(within run-to-run spread).")
    print("oneDNN times the LSTM layers only (no embedding, output layer, loss or optimizer); recur and "
          "PyTorch run the whole RNN LM, except in the layers-* rows, where recur runs its recurrent "
          "stack alone (forward + backward from a given dy), as oneDNN does.")
    if any_busy:
        print(f"! other processes used > {BUSY:.0%} of the CPU just before a run of this row: not comparable "
              "(OpenMP spin-waiting collapses when a core is taken); re-run it on a quiet machine.")
    if any_ceiling:
        print("GFLOP/s in parentheses: share of the ceiling recur's peak_fraction refers to in that row "
              "(recur gflops / peak_fraction).")
    return 0


def main():
    if len(sys.argv) < 3 or sys.argv[1] not in ("add", "meta", "table"):
        sys.stderr.write(__doc__)
        return 2
    verb, path, rest = sys.argv[1], sys.argv[2], sys.argv[3:]
    if verb == "add":
        return cmd_add(path, rest)
    if verb == "meta":
        return cmd_meta(path, rest)
    return cmd_table(path)


if __name__ == "__main__":
    sys.exit(main())
