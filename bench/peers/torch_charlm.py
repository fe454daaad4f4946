#!/usr/bin/python3
"""PyTorch peer for `recur bench`: the same character-level language model, timed the same way.

Model: nn.Embedding(vocab, H) -> nn.LSTM / nn.GRU / nn.RNN(H, H, num_layers=L) -> nn.Linear(H, vocab).

    train  one truncated-BPTT step per call on a T x B chunk of B parallel token streams: forward,
           cross-entropy, backward, clip_grad_norm_(5), Adam; the final state is detached and fed to
           the next chunk
    infer  forward of a T x B chunk under torch.no_grad(), state carried to the next chunk
    gen    batch 1, one token per call: embedding, one recurrent step, projection, softmax,
           torch.multinomial; the sampled token and the state feed the next call

Threads. Debian's torch does its GEMMs in OpenBLAS (own pthread pool) and everything else in
OpenMP; torch.set_num_threads() only sizes the OpenMP pool. The script therefore insists on
OMP_NUM_THREADS and OPENBLAS_NUM_THREADS both equal to --threads. With 2 threads on 2 cores also
set OMP_WAIT_POLICY=PASSIVE, or spinning OpenMP workers starve the OpenBLAS threads.

    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 /usr/bin/python3 bench/peers/torch_charlm.py \
        --mode train --model lstm --hidden 512 --batch 64 --threads 1 --json

Timing: warm-up, then --reps repetitions, each calling the step until at least --min-time seconds
have passed. Tokens/s are reported as median, min and max over the repetitions. GFLOP/s counts
GEMM FLOPs of the recurrent layers only (per token and layer 2*G*H*(I+H), G = 4 / 3 / 1 for
LSTM / GRU / RNN, I = H; training = 3x forward), the convention of `recur bench`; the embedding
and the 65-wide output layer are not counted. Use Debian's /usr/bin/python3: a pyenv python3
earlier on PATH does not see python3-torch.
"""
import argparse
import json
import os
import resource
import statistics
import sys
import time

import torch
import torch.nn as nn

GATES = {"lstm": 4, "gru": 3, "rnn": 1}


class CharLM(nn.Module):
    def __init__(self, model, vocab, hidden, layers):
        super().__init__()
        self.embedding = nn.Embedding(vocab, hidden)
        cell = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}[model]
        self.rnn = cell(hidden, hidden, num_layers=layers)  # (T, B, H) layout
        self.head = nn.Linear(hidden, vocab)

    def forward(self, tokens, state):
        out, state = self.rnn(self.embedding(tokens), state)
        return self.head(out), state


def zero_state(model, layers, batch, hidden):
    h = torch.zeros(layers, batch, hidden)
    return (h, torch.zeros_like(h)) if model == "lstm" else h


def detached(state):
    return tuple(s.detach() for s in state) if isinstance(state, tuple) else state.detach()


def forward_flops_per_token(model, hidden, layers):
    g = GATES[model]
    return sum(2 * g * hidden * (hidden + hidden) for _ in range(layers))  # input width I = H


def measure(call, reps, min_time):
    """Warm-up, then `reps` timed repetitions of >= min_time s. Returns [(calls, seconds)]."""
    warm_until = time.perf_counter() + max(0.25 * min_time, 0.05)
    call()  # first call: allocations, OpenBLAS/OpenMP thread start-up
    while time.perf_counter() < warm_until:
        call()
    out = []
    for _ in range(reps):
        n, start = 0, time.perf_counter()
        while True:
            call()
            n += 1
            elapsed = time.perf_counter() - start
            if elapsed >= min_time:
                break
        out.append((n, elapsed))
    return out


def check_threads(threads):
    bad = [v for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS") if os.environ.get(v) != str(threads)]
    if bad:
        now = ", ".join(f"{v}={os.environ.get(v, '<unset>')}" for v in bad)
        wait = " OMP_WAIT_POLICY=PASSIVE" if threads > 1 else ""
        sys.stderr.write(
            f"torch_charlm: refusing to run: {now}, but --threads {threads}.\n"
            "torch.set_num_threads() does not size OpenBLAS's pool, so set both in the environment:\n"
            f"  OMP_NUM_THREADS={threads} OPENBLAS_NUM_THREADS={threads}{wait} /usr/bin/python3 "
            f"{sys.argv[0]} ...\n")
        sys.exit(2)
    torch.set_num_threads(threads)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--mode", choices=["train", "infer", "gen"], required=True)
    p.add_argument("--model", choices=sorted(GATES), default="lstm")
    p.add_argument("--hidden", type=int, default=512)
    p.add_argument("--batch", type=int, default=64, help="parallel streams (gen: always 1)")
    p.add_argument("--seq-length", type=int, default=100, help="chunk length T (train, infer)")
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--vocab", type=int, default=65)
    p.add_argument("--threads", type=int, required=True)
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--min-time", type=float, default=1.0, help="seconds per repetition")
    p.add_argument("--peak-gflops", type=float, default=0.0,
                   help="GFLOP/s ceiling at this thread count; fills peak_fraction (else null)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    a = p.parse_args()
    if a.reps < 1 or a.min_time <= 0 or a.threads < 1:
        p.error("--reps, --threads and --min-time must be positive")

    check_threads(a.threads)
    torch.manual_seed(1234)
    net = CharLM(a.model, a.vocab, a.hidden, a.layers)
    batch = 1 if a.mode == "gen" else a.batch
    T = a.seq_length

    if a.mode == "train":
        optimizer = torch.optim.Adam(net.parameters(), lr=2e-3)
        loss_fn = nn.CrossEntropyLoss()
        # B token streams long enough for 8 distinct chunks; targets are the inputs shifted by one.
        n_chunks = 8
        streams = torch.randint(0, a.vocab, (n_chunks * T + 1, batch))
        ctx = {"state": zero_state(a.model, a.layers, batch, a.hidden), "pos": 0}

        def call():
            lo = ctx["pos"] * T
            x, y = streams[lo:lo + T], streams[lo + 1:lo + T + 1]
            ctx["pos"] = (ctx["pos"] + 1) % n_chunks
            optimizer.zero_grad(set_to_none=True)
            logits, state = net(x, detached(ctx["state"]))
            loss = loss_fn(logits.view(-1, a.vocab), y.reshape(-1))
            loss.backward()
            nn.utils.clip_grad_norm_(net.parameters(), 5.0)
            optimizer.step()
            ctx["state"] = state

        tokens_per_call, flop_factor = T * batch, 3
    elif a.mode == "infer":
        net.eval()
        n_chunks = 8
        streams = torch.randint(0, a.vocab, (n_chunks * T, batch))
        ctx = {"state": zero_state(a.model, a.layers, batch, a.hidden), "pos": 0}

        def call():
            lo = ctx["pos"] * T
            ctx["pos"] = (ctx["pos"] + 1) % n_chunks
            with torch.no_grad():
                _, ctx["state"] = net(streams[lo:lo + T], ctx["state"])

        tokens_per_call, flop_factor = T * batch, 1
    else:
        net.eval()
        ctx = {"state": zero_state(a.model, a.layers, 1, a.hidden), "token": torch.zeros(1, 1, dtype=torch.long)}

        def call():
            with torch.no_grad():
                logits, ctx["state"] = net(ctx["token"], ctx["state"])
                probs = torch.softmax(logits.view(-1), dim=0)
                ctx["token"] = torch.multinomial(probs, 1).view(1, 1)

        tokens_per_call, flop_factor = 1, 1

    runs = measure(call, a.reps, a.min_time)
    rates = sorted(n * tokens_per_call / s for n, s in runs)
    median = statistics.median(rates)
    gflops = median * flop_factor * forward_flops_per_token(a.model, a.hidden, a.layers) * 1e-9
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB
    result = {
        "engine": "pytorch-" + torch.__version__,
        "mode": a.mode,
        "model": a.model,
        "hidden": a.hidden,
        "batch": batch,
        "threads": a.threads,
        "tokens_per_s": round(median, 2),
        "tokens_per_s_min": round(rates[0], 2),
        "tokens_per_s_max": round(rates[-1], 2),
        "gflops": round(gflops, 3),
        "peak_fraction": round(gflops / a.peak_gflops, 4) if a.peak_gflops > 0 else None,
        "us_per_token": round(1e6 / median, 3) if a.mode == "gen" else None,
        "peak_rss_mb": round(rss_mb, 1),
        "layers": a.layers,
        "seq_length": T if a.mode != "gen" else 1,
        "reps": a.reps,
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "unset"),
    }
    if a.json:
        print(json.dumps(result), flush=True)
    else:
        extra = f", {1e6 / median:.1f} us/token" if a.mode == "gen" else ""
        print(f"{result['engine']} {a.mode} {a.model} L{a.layers} H{a.hidden} B{batch} threads {a.threads}: "
              f"{median:.0f} tok/s [{rates[0]:.0f}-{rates[-1]:.0f}]{extra}, {gflops:.1f} GFLOP/s, "
              f"peak RSS {rss_mb:.0f} MB")


if __name__ == "__main__":
    main()
