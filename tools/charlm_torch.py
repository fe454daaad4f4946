#!/usr/bin/python3
"""recur char-LM checkpoints <-> PyTorch, and a loss check against `recur eval`.

Needs Debian's python3-torch (run with /usr/bin/python3). The safetensors reader and writer here
are the whole format (docs/checkpoint-format.md); no `safetensors` package is needed.

    charlm_torch.py to-torch   CKPT.safetensors OUT.pt      # state_dict + config + vocab, torch.save
    charlm_torch.py from-torch IN.pt OUT.safetensors        # back (model tensors + recur.task/config/vocab)
    charlm_torch.py eval       CKPT.safetensors TEXT [--json]   # mean loss in PyTorch, like `recur eval`

The PyTorch model is nn.Embedding -> nn.LSTM / nn.GRU / nn.RNN -> nn.Linear (`CharLM` below), with
recur's tensor names as its state_dict names. recur's gru_reset_before and jordan cells have no
PyTorch module and are rejected.
"""
import argparse
import json
import math
import struct
import sys

torch = None  # imported by main() after the arguments parse, so that --help needs no PyTorch


def import_torch():
    global torch
    try:
        import torch as module
    except ImportError:
        sys.exit("error: charlm_torch.py needs PyTorch: apt-get install python3-torch (Debian's), "
                 "then run it with /usr/bin/python3")
    torch = module


def dtypes():
    """safetensors dtype names <-> torch dtypes."""
    by_name = {"F32": torch.float32, "F64": torch.float64}
    return by_name, {v: k for k, v in by_name.items()}


def read_safetensors(path):
    """Returns ({name: tensor}, {metadata})."""
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    metadata = header.pop("__metadata__", {})
    buffer = data[8 + n:]
    tensors = {}
    by_name, _ = dtypes()
    for name, e in header.items():
        begin, end = e["data_offsets"]
        if e["dtype"] not in by_name:
            sys.exit(f"error: {path}: tensor {name} has dtype {e['dtype']}; recur writes F32 or F64")
        dtype = by_name[e["dtype"]]
        t = torch.frombuffer(bytearray(buffer[begin:end]), dtype=dtype) if end > begin else torch.zeros(0, dtype=dtype)
        tensors[name] = t.reshape(e["shape"])
    return tensors, metadata


def write_safetensors(path, tensors, metadata):
    header, blobs, offset = {"__metadata__": metadata}, [], 0
    _, names = dtypes()
    for name, t in tensors.items():
        raw = t.detach().contiguous().cpu().numpy().tobytes()
        header[name] = {"dtype": names[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def char_lm(config):
    """The PyTorch twin of recur's language model (same parameter names, same math):
    nn.Embedding -> nn.LSTM / nn.GRU / nn.RNN -> nn.Linear, the decoder tied to the embedding if
    the config says so."""

    class CharLM(torch.nn.Module):
        def __init__(self):
            super().__init__()
            kind = config["model"]
            V, E, H, L = config["vocab_size"], config["embedding_size"], config["rnn_size"], config["num_layers"]
            self.embedding = torch.nn.Embedding(V, E)
            if kind == "lstm":
                self.rnn = torch.nn.LSTM(E, H, L, dropout=config["dropout"])
            elif kind == "gru":
                self.rnn = torch.nn.GRU(E, H, L, dropout=config["dropout"])
            elif kind in ("rnn_tanh", "rnn_relu"):
                self.rnn = torch.nn.RNN(E, H, L, nonlinearity=kind[4:], dropout=config["dropout"])
            else:
                sys.exit(f"error: recur's {kind} cell has no PyTorch module (lstm, gru, rnn_tanh and rnn_relu do)")
            self.decoder = torch.nn.Linear(H, V)
            if config.get("tied", False):
                self.decoder.weight = self.embedding.weight

        def forward(self, ids, state=None):  # ids: (T, B)
            y, state = self.rnn(self.embedding(ids), state)
            return self.decoder(y), state

    return CharLM()


def load_recur(path):
    tensors, meta = read_safetensors(path)
    task = meta.get("recur.task", "lm")  # files written before recur.task are character LMs
    if task != "lm":
        sys.exit(f"{path} holds a '{task}' model, not a language model")
    config, vocab = json.loads(meta["recur.config"]), json.loads(meta["recur.vocab"])
    if isinstance(vocab, list):  # files before {"kind", "specials", "tokens"}: the characters
        vocab = {"kind": "char", "specials": [], "tokens": vocab}
    model = char_lm(config)
    model_tensors = {k: v for k, v in tensors.items() if not k.startswith("train.")}
    model.load_state_dict({k: v.float() for k, v in model_tensors.items()}, strict=True)
    return model, config, vocab


def to_torch(args):
    model, config, vocab = load_recur(args.checkpoint)
    torch.save({"state_dict": model.state_dict(), "config": config, "vocab": vocab}, args.out)


def from_torch(args):
    saved = torch.load(args.checkpoint)
    config, vocab = saved["config"], saved["vocab"]
    model = char_lm(config)
    model.load_state_dict(saved["state_dict"], strict=True)
    tensors = {k: v.float() for k, v in model.state_dict().items()}
    write_safetensors(args.out, tensors, {"recur.task": "lm", "recur.config": json.dumps(config),
                                         "recur.vocab": json.dumps(vocab)})


def evaluate(args):
    """Mean loss over the predictions of tokens 2..n, batch 1, state carried (as `recur eval`).

    Characters: every code point. Words: whitespace-separated with <eos> after each line, words
    outside the vocabulary read as <unk> (PTB's convention, as recur's)."""
    model, config, vocab = load_recur(args.checkpoint)
    if config.get("items") == "lines":
        sys.exit(f"error: {args.checkpoint} is a per-line model (--items lines); this check scores streams only, "
                 "use `recur eval` for it")
    model.eval()
    index = {c: i for i, c in enumerate(vocab["tokens"])}
    with open(args.text, encoding="utf-8") as f:
        text = f.read()
    if vocab["kind"] == "word":
        tokens = [w for line in text.splitlines() for w in line.split() + ["<eos>"]]
        ids = torch.tensor([index.get(w, index["<unk>"]) for w in tokens], dtype=torch.long)
    else:
        ids = torch.tensor([index[c] for c in text], dtype=torch.long)
    total, state = 0.0, None
    with torch.no_grad():
        for begin in range(0, len(ids) - 1, args.chunk):
            x = ids[begin:begin + args.chunk + 1]
            logits, state = model(x[:-1].unsqueeze(1), state)
            total += float(torch.nn.functional.cross_entropy(logits.squeeze(1).double(), x[1:], reduction="sum"))
    n = len(ids) - 1
    loss = total / n
    result = {"loss": loss, "perplexity": math.exp(loss), "tokens": n}
    if vocab["kind"] == "char":
        result["bpc"] = loss / math.log(2)
    print(json.dumps(result) if args.json else f"{args.text}: loss {loss:.6f} nats/token over {n} predictions")


def main():
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        epilog="Run a subcommand with --help for its arguments. Needs Debian's python3-torch (not for --help).")
    sub = parser.add_subparsers(dest="command", required=True, metavar="{to-torch,from-torch,eval}")
    p = sub.add_parser("to-torch", help="a recur checkpoint to a PyTorch file (torch.save)",
                       description="Writes {'state_dict', 'config', 'vocab'} with torch.save; the state_dict loads "
                                   "into the CharLM module of this script (nn.Embedding, nn.LSTM/GRU/RNN, nn.Linear). "
                                   "Training state (train.* tensors) is left out.")
    p.add_argument("checkpoint", help="recur checkpoint (.safetensors), e.g. cv/best.safetensors")
    p.add_argument("out", help="PyTorch file to write, e.g. model.pt")
    p.set_defaults(run=to_torch)
    p = sub.add_parser("from-torch", help="a PyTorch file (as to-torch writes) back to a recur checkpoint",
                       description="Reads {'state_dict', 'config', 'vocab'} (torch.load) and writes a recur "
                                   "checkpoint that `recur sample`, `eval` and `inspect` read, and "
                                   "`recur train lm --init-from` starts from.")
    p.add_argument("checkpoint", help="PyTorch file, e.g. model.pt")
    p.add_argument("out", help="recur checkpoint to write (.safetensors)")
    p.set_defaults(run=from_torch)
    p = sub.add_parser("eval", help="score a text in PyTorch, as `recur eval` does",
                       description="Mean loss over the predictions of tokens 2..n at batch 1 with the state "
                                   "carried; equals `recur eval CKPT TEXT --json` to 1e-5.")
    p.add_argument("checkpoint", help="recur checkpoint (.safetensors)")
    p.add_argument("text", help="UTF-8 text file")
    p.add_argument("--json", action="store_true", help="print one JSON object, as `recur eval --json`")
    p.add_argument("--chunk", type=int, default=1000, help="steps per forward call (default 1000)")
    p.set_defaults(run=evaluate)
    args = parser.parse_args()
    import_torch()
    args.run(args)


if __name__ == "__main__":
    sys.exit(main())
