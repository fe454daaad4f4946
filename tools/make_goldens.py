#!/usr/bin/python3
"""Writes PyTorch golden files for recur's parity tests (tests/parity/goldens/*.json).

Needs Debian's python3-torch (run with /usr/bin/python3; `scripts/setup_debian.sh --with-torch`).
The tests read these files and need no Python. Every case is computed in float64 from inputs
generated here with a fixed seed; recur reproduces the forward values and every gradient.

    ops.json, lstm_cell.json, optimizers.json   single ops, an unrolled LSTMCell, optimizer steps
    schedules.json                              learning-rate schedules (no random inputs)
    rnn_tanh.json, rnn_relu.json, lstm.json, gru.json
        nn.RNN (tanh, relu), nn.LSTM and nn.GRU: {"generator", "cases": [8 cases]} covering
        {1, 2 layers} x {uni, bidirectional} x {equal lengths, packed variable lengths}, each with
        x, h0 (c0), params (state_dict names), output, h_n (c_n), upstream gradients and all grads.

    /usr/bin/python3 tools/make_goldens.py [--out tests/parity/goldens]
"""
import argparse
import json
import os
import warnings

import torch

torch.set_default_dtype(torch.float64)


def flat(t):
    return [float(v) for v in t.detach().reshape(-1).tolist()]


def tensor_entry(t):
    return {"shape": list(t.shape), "data": flat(t)}


def write(out_dir, name, case):
    path = os.path.join(out_dir, name + ".json")
    case["generator"] = "tools/make_goldens.py, torch " + torch.__version__
    with open(path, "w") as f:
        json.dump(case, f, indent=None, separators=(",", ":"))
        f.write("\n")
    print(f"wrote {path} ({os.path.getsize(path)} bytes)")


def leaf(shape, gen, scale=1.0):
    return ((torch.rand(*shape, generator=gen) * 2 - 1) * scale).requires_grad_(True)


def ops_case(gen):
    """Single ops: outputs and input gradients for a random upstream gradient (or scalar loss)."""
    cases = {}

    x, W, b = leaf((3, 5), gen), leaf((4, 5), gen), leaf((4,), gen)
    y = torch.nn.functional.linear(x, W, b)
    dy = torch.rand(y.shape, generator=gen) * 2 - 1
    y.backward(dy)
    cases["linear"] = {"x": tensor_entry(x), "W": tensor_entry(W), "b": tensor_entry(b), "dy": tensor_entry(dy),
                       "y": tensor_entry(y), "dx": tensor_entry(x.grad), "dW": tensor_entry(W.grad),
                       "db": tensor_entry(b.grad)}

    for name, fn in (("softmax", torch.softmax), ("log_softmax", torch.log_softmax)):
        x = leaf((4, 7), gen, scale=5.0)
        with torch.no_grad():
            x[1] += 1000.0  # a row of huge logits: must stay finite
        y = fn(x, dim=-1)
        dy = torch.rand(y.shape, generator=gen) * 2 - 1
        y.backward(dy)
        cases[name] = {"x": tensor_entry(x), "dy": tensor_entry(dy), "y": tensor_entry(y),
                       "dx": tensor_entry(x.grad)}

    logits = leaf((6, 5), gen, scale=3.0)
    targets = [0, 4, -100, 2, 2, 1]
    loss = torch.nn.functional.cross_entropy(logits, torch.tensor(targets), ignore_index=-100, reduction="mean")
    loss.backward()
    cases["cross_entropy_mean_ignore"] = {"logits": tensor_entry(logits), "targets": targets,
                                          "loss": float(loss), "dlogits": tensor_entry(logits.grad)}

    logits = leaf((4, 3), gen, scale=3.0)
    targets = [2, 0, 1, 1]
    loss = torch.nn.functional.cross_entropy(logits, torch.tensor(targets), reduction="sum")
    loss.backward()
    cases["cross_entropy_sum"] = {"logits": tensor_entry(logits), "targets": targets, "loss": float(loss),
                                  "dlogits": tensor_entry(logits.grad)}

    pred, target = leaf((3, 4), gen), leaf((3, 4), gen)
    loss = torch.nn.functional.mse_loss(pred, target)
    loss.backward()
    cases["mse_mean"] = {"pred": tensor_entry(pred), "target": tensor_entry(target), "loss": float(loss),
                         "dpred": tensor_entry(pred.grad), "dtarget": tensor_entry(target.grad)}

    table = leaf((6, 3), gen)
    ids = [5, 0, 5, 2]
    y = torch.nn.functional.embedding(torch.tensor(ids), table)
    dy = torch.rand(y.shape, generator=gen) * 2 - 1
    y.backward(dy)
    cases["embedding"] = {"table": tensor_entry(table), "ids": ids, "dy": tensor_entry(dy), "y": tensor_entry(y),
                          "dtable": tensor_entry(table.grad)}

    # Cases added later draw from their own generator, so the ones above never change.
    smoothing_gen = torch.Generator().manual_seed(20261206)
    logits = leaf((5, 4), smoothing_gen, scale=3.0)
    targets = [3, -100, 0, 1, 3]
    loss = torch.nn.functional.cross_entropy(logits, torch.tensor(targets), ignore_index=-100, reduction="mean",
                                             label_smoothing=0.1)
    loss.backward()
    cases["cross_entropy_mean_smoothed"] = {"logits": tensor_entry(logits), "targets": targets,
                                            "label_smoothing": 0.1, "loss": float(loss),
                                            "dlogits": tensor_entry(logits.grad)}
    return cases


def lstm_case(gen):
    """nn.LSTMCell unrolled over T steps with a linear head and a summed cross-entropy."""
    B, I, H, C, T = 3, 4, 5, 6, 4
    cell = torch.nn.LSTMCell(I, H)
    head = torch.nn.Linear(H, C, bias=True)
    with torch.no_grad():
        for p in list(cell.parameters()) + list(head.parameters()):
            p.copy_(torch.rand(p.shape, generator=gen) * 0.8 - 0.4)
    xs = torch.rand(T, B, I, generator=gen) * 2 - 1
    targets = torch.randint(0, C, (T, B), generator=gen)
    h = torch.zeros(B, H)
    c = torch.zeros(B, H)
    loss = 0.0
    hs = []
    for t in range(T):
        h, c = cell(xs[t], (h, c))
        hs.append(h)
        loss = loss + torch.nn.functional.cross_entropy(head(h), targets[t])
    loss.backward()
    params = {"weight_ih": cell.weight_ih, "weight_hh": cell.weight_hh, "bias_ih": cell.bias_ih,
              "bias_hh": cell.bias_hh, "head.weight": head.weight, "head.bias": head.bias}
    return {"B": B, "I": I, "H": H, "C": C, "T": T, "x": tensor_entry(xs), "targets": flat(targets.double()),
            "params": {k: tensor_entry(v) for k, v in params.items()},
            "grads": {k: tensor_entry(v.grad) for k, v in params.items()},
            "h_last": tensor_entry(h), "c_last": tensor_entry(c), "loss": float(loss)}


def optimizer_case(gen):
    """Five optimizer steps on fixed parameters with a fixed sequence of gradients.

    Runs added later only append to `configs`: they draw no random numbers, so earlier runs and the
    files written after this one do not change."""
    steps = 5
    theta0 = torch.rand(7, generator=gen) * 2 - 1
    grads = [torch.rand(7, generator=gen) * 2 - 1 for _ in range(steps)]
    configs = {
        "sgd": (torch.optim.SGD, {"lr": 0.1}),
        "sgd_momentum": (torch.optim.SGD, {"lr": 0.1, "momentum": 0.9, "weight_decay": 0.01}),
        "sgd_nesterov": (torch.optim.SGD, {"lr": 0.1, "momentum": 0.9, "nesterov": True}),
        "adam": (torch.optim.Adam, {"lr": 0.01}),
        "adam_weight_decay": (torch.optim.Adam, {"lr": 0.05, "betas": (0.8, 0.95), "eps": 1e-6,
                                                 "weight_decay": 0.1}),
        # Options left out take torch's defaults, so these runs also pin recur's defaults.
        "adagrad": (torch.optim.Adagrad, {"lr": 0.1}),
        "adagrad_decay": (torch.optim.Adagrad, {"lr": 0.1, "lr_decay": 0.1, "weight_decay": 0.05,
                                                "initial_accumulator_value": 0.2}),
        "rmsprop": (torch.optim.RMSprop, {"lr": 0.01}),
        "rmsprop_centered_momentum": (torch.optim.RMSprop, {"lr": 0.01, "alpha": 0.9, "eps": 1e-6,
                                                            "weight_decay": 0.01, "momentum": 0.8,
                                                            "centered": True}),
        "adamw": (torch.optim.AdamW, {"lr": 0.01}),
        "adamw_custom": (torch.optim.AdamW, {"lr": 0.05, "betas": (0.8, 0.95), "eps": 1e-6,
                                             "weight_decay": 0.1}),
    }
    out = {"theta0": flat(theta0), "grads": [flat(g) for g in grads], "runs": {}}
    for name, (cls, kwargs) in configs.items():
        theta = theta0.clone().requires_grad_(True)
        opt = cls([theta], **kwargs)
        trajectory = []
        for g in grads:
            theta.grad = g.clone()
            opt.step()
            trajectory.append(flat(theta))
        # The state after the last step under torch's names (the step count apart): recur's
        # Optimizer::state() must use the same names and hold the same numbers.
        state = {k: flat(v) for k, v in opt.state[theta].items() if torch.is_tensor(v) and k != "step"}
        out["runs"][name] = {"optimizer": cls.__name__,
                             "options": {k: (list(v) if isinstance(v, tuple) else v) for k, v in kwargs.items()},
                             "trajectory": trajectory, "state": state}
    # clip_grad_norm_: a norm above the limit is scaled down, one below is left alone.
    clip = {}
    for name, max_norm in (("clipped", 0.5), ("unclipped", 100.0)):
        p = torch.zeros(7, requires_grad=True)
        p.grad = grads[0].clone()
        norm = torch.nn.utils.clip_grad_norm_([p], max_norm)
        clip[name] = {"max_norm": max_norm, "norm": float(norm), "grad": flat(p.grad)}
    out["clip"] = clip
    return out


def schedule_case():
    """Learning rates from torch.optim.lr_scheduler for fixed inputs (no random numbers).

    plateau_*: ReduceLROnPlateau stepped with a fixed sequence of validation losses; "lrs"[k] is the
    rate after the k-th loss. cosine*: CosineAnnealingLR (with a LinearLR warmup through SequentialLR)
    stepped once per iteration; "lrs"[i] is the rate after i steps, i = 0..total_iterations.
    char_rnn_decay: MultiplicativeLR stepped once per epoch, which is char-rnn's rule; "lrs"[k] is the
    rate after k epochs, k = 0..epochs."""
    def sgd(lr):
        return torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=lr)

    def lr_of(opt):
        return float(opt.param_groups[0]["lr"])

    out = {}
    # Improvements, near-misses inside the relative threshold, plateaus, a cooldown, the min_lr floor.
    losses = [2.0, 1.5, 1.2, 1.19995, 1.1999, 1.19989, 1.3, 1.25, 1.0, 1.0, 1.0, 1.0, 0.9, 0.95, 0.95, 0.95,
              0.95, 0.95, 0.95, 0.95, 0.95, 0.95, 0.95, 0.95, 0.8, 0.8, 0.8, 0.8, 0.8, 0.8]
    plateau = {
        "plateau": (0.1, {"factor": 0.5, "patience": 2, "cooldown": 1, "min_lr": 0.02}, losses),
        "plateau_abs": (0.1, {"factor": 0.3, "patience": 1, "threshold": 0.05, "threshold_mode": "abs",
                              "cooldown": 2}, losses),
        "plateau_defaults": (1.0, {}, losses + [0.8] * 10),
        # Halving stops once a reduction would change the rate by no more than eps = 1e-8.
        "plateau_eps": (1e-6, {"factor": 0.5, "patience": 0}, [1.0] * 12),
    }
    for name, (lr, kwargs, seq) in plateau.items():
        opt = sgd(lr)
        sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, **kwargs)
        lrs = []
        for loss in seq:
            sched.step(loss)
            lrs.append(lr_of(opt))
        out[name] = {"lr": lr, "options": kwargs, "losses": seq, "lrs": lrs}

    for name, lr, total, warmup, eta_min in (("cosine", 0.1, 10, 0, 0.001), ("cosine_warmup", 0.5, 13, 3, 0.0)):
        opt = sgd(lr)
        cosine = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=total - warmup, eta_min=eta_min)
        if warmup:
            # LinearLR from lr/W to lr over W-1 steps gives lr·(i+1)/W, then the cosine takes over.
            linear = torch.optim.lr_scheduler.LinearLR(opt, start_factor=1.0 / warmup, end_factor=1.0,
                                                       total_iters=warmup - 1)
            sched = torch.optim.lr_scheduler.SequentialLR(opt, [linear, cosine], milestones=[warmup])
        else:
            sched = cosine
        lrs = [lr_of(opt)]
        with warnings.catch_warnings():  # SequentialLR itself calls the deprecated step(epoch)
            warnings.simplefilter("ignore", UserWarning)
            for _ in range(total):
                opt.step()
                sched.step()
                lrs.append(lr_of(opt))
        out[name] = {"lr": lr, "total_iterations": total, "warmup_iterations": warmup, "eta_min": eta_min,
                     "lrs": lrs}

    lr, decay, decay_after, epochs = 2e-3, 0.97, 3, 8
    opt = sgd(lr)
    sched = torch.optim.lr_scheduler.MultiplicativeLR(opt, lambda epoch: decay if epoch >= decay_after else 1.0)
    lrs = [lr_of(opt)]
    for _ in range(epochs):
        opt.step()
        sched.step()
        lrs.append(lr_of(opt))
    out["char_rnn_decay"] = {"lr": lr, "decay": decay, "decay_after": decay_after, "lrs": lrs}
    return out


RNN_MODES = ("rnn_tanh", "rnn_relu", "lstm", "gru")


def make_rnn(mode, I, H, num_layers, bidirectional):
    kwargs = dict(input_size=I, hidden_size=H, num_layers=num_layers, bidirectional=bidirectional,
                  batch_first=False, dropout=0.0)
    if mode == "lstm":
        return torch.nn.LSTM(**kwargs)
    if mode == "gru":
        return torch.nn.GRU(**kwargs)
    return torch.nn.RNN(nonlinearity=mode[len("rnn_"):], **kwargs)


def check_rnn_case(mode, module, x, h0, c0, lengths, output, h_n, dx):
    """Asserts the packed-sequence semantics the C++ tests rely on."""
    T, B, _ = x.shape
    D = 2 if module.bidirectional else 1
    H = module.hidden_size
    top = (module.num_layers - 1) * D  # h_n rows of the last layer: top (forward), top + 1 (reverse)
    for b, L in enumerate(lengths):
        # Padded positions: output is exactly 0 and receive exactly no gradient.
        assert torch.all(output[L:, b] == 0) and torch.all(dx[L:, b] == 0)
        # Forward h_n is the output at the last valid step; reverse h_n is the output at step 0.
        assert torch.equal(h_n[top, b], output[L - 1, b, :H])
        if D == 2:
            assert torch.equal(h_n[top + 1, b], output[0, b, H:])
        # The packed batch agrees with sequence b run alone over its own length.
        with torch.no_grad():
            state = (h0[:, b:b + 1], c0[:, b:b + 1]) if mode == "lstm" else h0[:, b:b + 1]
            out_b, state_b = module(x[:L, b:b + 1], state)
            hn_b = state_b[0] if mode == "lstm" else state_b
        assert torch.allclose(out_b[:, 0], output[:L, b], rtol=0, atol=1e-12)
        assert torch.allclose(hn_b[:, 0], h_n[:, b], rtol=0, atol=1e-12)


def rnn_case(mode, num_layers, bidirectional, packed, gen):
    """One nn.RNN/LSTM/GRU forward and backward against random upstream gradients of output and h_n (c_n)."""
    T, B, I, H = 5, 3, 4, 3
    D = 2 if bidirectional else 1
    lengths = [5, 2, 4] if packed else [T] * B  # unsorted on purpose: enforce_sorted=False
    is_lstm = mode == "lstm"
    module = make_rnn(mode, I, H, num_layers, bidirectional)

    x = leaf((T, B, I), gen)
    h0 = leaf((num_layers * D, B, H), gen, scale=0.5)
    c0 = leaf((num_layers * D, B, H), gen, scale=0.5) if is_lstm else None
    with torch.no_grad():
        for p in module.parameters():  # state_dict order; torch's own init is overwritten
            p.copy_((torch.rand(p.shape, generator=gen) * 2 - 1) * 0.6)
    params = dict(module.named_parameters())
    assert list(params) == list(module.state_dict())

    state = (h0, c0) if is_lstm else h0
    if packed:
        seq = torch.nn.utils.rnn.pack_padded_sequence(x, torch.tensor(lengths), enforce_sorted=False)
        out_packed, state_n = module(seq, state)
        output, _ = torch.nn.utils.rnn.pad_packed_sequence(out_packed, total_length=T)
    else:
        output, state_n = module(x, state)
    h_n, c_n = state_n if is_lstm else (state_n, None)

    # Upstream gradients, also at padded output positions (which must receive nothing).
    d_output = torch.rand(output.shape, generator=gen) * 2 - 1
    d_h_n = torch.rand(h_n.shape, generator=gen) * 2 - 1
    loss = (output * d_output).sum() + (h_n * d_h_n).sum()
    if is_lstm:
        d_c_n = torch.rand(c_n.shape, generator=gen) * 2 - 1
        loss = loss + (c_n * d_c_n).sum()
    loss.backward()
    check_rnn_case(mode, module, x, h0, c0, lengths, output, h_n, x.grad)

    case = {"name": f"{mode}_{num_layers}l_{'bi' if bidirectional else 'uni'}_{'packed' if packed else 'equal'}",
            "mode": mode, "num_layers": num_layers, "bidirectional": bidirectional,
            "T": T, "B": B, "input_size": I, "hidden_size": H, "lengths": lengths,
            "x": tensor_entry(x), "h0": tensor_entry(h0)}
    if is_lstm:
        case["c0"] = tensor_entry(c0)
    case["params"] = {k: tensor_entry(v) for k, v in params.items()}
    case["output"] = tensor_entry(output)
    case["h_n"] = tensor_entry(h_n)
    if is_lstm:
        case["c_n"] = tensor_entry(c_n)
    case["d_output"] = tensor_entry(d_output)
    case["d_h_n"] = tensor_entry(d_h_n)
    if is_lstm:
        case["d_c_n"] = tensor_entry(d_c_n)
    case["loss"] = float(loss)
    case["grads"] = {k: tensor_entry(v.grad) for k, v in params.items()}
    case["dx"] = tensor_entry(x.grad)
    case["dh0"] = tensor_entry(h0.grad)
    if is_lstm:
        case["dc0"] = tensor_entry(c0.grad)
    return case


def rnn_file(mode, gen):
    """The 8 cases of one recurrent mode: {1, 2} layers x {uni, bi} x {equal, packed}."""
    return {"cases": [rnn_case(mode, num_layers, bidirectional, packed, gen)
                      for num_layers in (1, 2) for bidirectional in (False, True) for packed in (False, True)]}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "tests", "parity", "goldens"))
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    gen = torch.Generator().manual_seed(20261121)
    write(args.out, "ops", ops_case(gen))
    write(args.out, "lstm_cell", lstm_case(gen))
    write(args.out, "optimizers", optimizer_case(gen))
    write(args.out, "schedules", schedule_case())
    # The recurrent layers draw from their own generator so the files above never change.
    rnn_gen = torch.Generator().manual_seed(20261122)
    for mode in RNN_MODES:
        write(args.out, mode, rnn_file(mode, rnn_gen))


if __name__ == "__main__":
    main()
