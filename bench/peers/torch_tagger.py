#!/usr/bin/python3
"""The tagger of `recur bench --mode tag-train|tag-infer` in PyTorch, for bench/compare_peers.sh.

The same model and data: the first 2,048 sentences of UD English EWT (data/ud_english_ewt, UPOS),
in batches of consecutive sentences; word embedding 100 + a bidirectional character LSTM
(embedding 30, 50 per direction, its final states) -> a bidirectional LSTM/GRU (--hidden per
direction) -> dropout 0.5 -> linear -> cross-entropy; Adam, clip-norm 5. Variable lengths the
PyTorch way: pack_padded_sequence (enforce_sorted=False sorts and unsorts each batch).
Prints one JSON line: words/s median [min, max] over --reps repetitions of >= --min-time s.
"""
import argparse
import gzip
import json
import os
import statistics
import sys
import time


def sentences(path, n):
    out, words, tags = [], [], []
    with gzip.open(path, "rt", encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if not line:
                if words:
                    out.append((words, tags))
                    words, tags = [], []
                    if len(out) == n:
                        break
                continue
            if line.startswith("#"):
                continue
            cols = line.split("\t")
            if "-" in cols[0] or "." in cols[0]:
                continue
            words.append(cols[1])
            tags.append(cols[3])
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--mode", choices=["tag-train", "tag-infer"], default="tag-train")
    p.add_argument("--model", choices=["lstm", "gru"], default="lstm")
    p.add_argument("--hidden", type=int, default=200)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--min-time", type=float, default=1.0)
    p.add_argument("--json", action="store_true")
    a = p.parse_args()
    try:
        import torch
        from torch import nn
        from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence
    except ImportError:
        sys.exit("torch_tagger.py needs PyTorch: apt-get install python3-torch")
    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
    data = sentences(os.path.join(root, "data/ud_english_ewt/en_ewt-ud-train.conllu.gz"), 2048)
    words = {"<pad>": 0, "<unk>": 1}
    chars = {"<pad>": 0, "<unk>": 1}
    tags = {}
    for ws, ts in data:
        for w in ws:
            words.setdefault(w, len(words))
            for ch in w:
                chars.setdefault(ch, len(chars))
        for t in ts:
            tags.setdefault(t, len(tags))
    Rnn = nn.LSTM if a.model == "lstm" else nn.GRU

    class Tagger(nn.Module):
        def __init__(self):
            super().__init__()
            self.word = nn.Embedding(len(words), 100)
            self.char = nn.Embedding(len(chars), 30)
            self.char_rnn = Rnn(30, 50, bidirectional=True)
            self.rnn = Rnn(200, a.hidden, bidirectional=True)
            self.drop = nn.Dropout(0.5)
            self.out = nn.Linear(2 * a.hidden, len(tags))

        def forward(self, w, lengths, c, char_lengths, which):
            # Characters of every real word at once, packed; their two final states.
            packed = pack_padded_sequence(self.char(c), char_lengths, enforce_sorted=False)
            _, state = self.char_rnn(packed)
            h = state[0] if isinstance(state, tuple) else state
            per_word = torch.cat([torch.cat([h[0], h[1]], 1), torch.zeros(1, 100)], 0)[which]
            x = self.drop(torch.cat([self.word(w), per_word], 2))
            out, _ = self.rnn(pack_padded_sequence(x, lengths, enforce_sorted=False))
            out, _ = pad_packed_sequence(out)
            return self.out(self.drop(out))

    batches = []
    for first in range(0, len(data), a.batch):
        group = data[first:first + a.batch]
        T, B = max(len(ws) for ws, _ in group), len(group)
        w = torch.zeros(T, B, dtype=torch.long)
        y = torch.full((T, B), -100, dtype=torch.long)
        which = torch.full((T, B), 0, dtype=torch.long)
        word_chars = []
        for b, (ws, ts) in enumerate(group):
            for t, (word, tag) in enumerate(zip(ws, ts)):
                w[t, b] = words[word]
                y[t, b] = tags[tag]
        order = [(t, b) for t in range(T) for b in range(B) if t < len(group[b][0])]
        for n, (t, b) in enumerate(order):
            which[t, b] = n
            word_chars.append([chars[ch] for ch in group[b][0][t]])
        pad_row = len(order)
        for t in range(T):
            for b in range(B):
                if t >= len(group[b][0]):
                    which[t, b] = pad_row
        Tc = max(len(x) for x in word_chars)
        c = torch.zeros(Tc, len(word_chars), dtype=torch.long)
        for n, x in enumerate(word_chars):
            c[: len(x), n] = torch.tensor(x)
        batches.append((w, torch.tensor([len(ws) for ws, _ in group]), c,
                        torch.tensor([len(x) for x in word_chars]), which, y, len(order)))
    model = Tagger()
    opt = torch.optim.Adam(model.parameters())
    loss_fn = nn.CrossEntropyLoss(ignore_index=-100)
    state = {"next": 0}

    def unit():
        w, lengths, c, char_lengths, which, y, n = batches[state["next"] % len(batches)]
        state["next"] += 1
        if a.mode == "tag-train":
            model.train()
            opt.zero_grad()
            scores = model(w, lengths, c, char_lengths, which)
            loss = loss_fn(scores.reshape(-1, scores.shape[-1]), y[: scores.shape[0]].reshape(-1))
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            opt.step()
        else:
            model.eval()
            with torch.no_grad():
                model(w, lengths, c, char_lengths, which).argmax(-1)
        return n

    rates = []
    for r in range(-1, a.reps):
        start, words_done = time.perf_counter(), 0
        while True:
            words_done += unit()
            if time.perf_counter() - start >= (a.min_time / 4 if r < 0 else a.min_time):
                break
        if r >= 0:
            rates.append(words_done / (time.perf_counter() - start))
    total_words = sum(len(ws) for ws, _ in data)
    rec = {"engine": f"pytorch-{torch.__version__}", "mode": a.mode, "model": a.model, "hidden": a.hidden,
           "layers": 1, "batch": a.batch, "threads": a.threads, "sentences": len(data),
           "tokens_per_s": statistics.median(rates), "tokens_per_s_min": min(rates),
           "tokens_per_s_max": max(rates),
           "sentences_per_s": statistics.median(rates) / (total_words / len(data)), "reps": a.reps}
    print(json.dumps(rec))


if __name__ == "__main__":
    main()
