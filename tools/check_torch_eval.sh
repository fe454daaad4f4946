#!/usr/bin/env bash
# ctest (label torch): `recur eval` and PyTorch with the converted weights give the same mean loss,
# and a checkpoint survives recur -> PyTorch -> recur with identical tensors.
# Usage: tools/check_torch_eval.sh RECUR_BINARY WORK_DIR
set -euo pipefail
recur=$1
work=$2
tools=$(cd "$(dirname "$0")" && pwd)
rm -rf "$work" && mkdir -p "$work" && cd "$work"
head -c 20000 "$tools/../data/tinyshakespeare/input.txt" > text.txt
status=0
for model in lstm gru rnn_tanh; do
  "$recur" train --data text.txt --model "$model" --rnn-size 24 --num-layers 2 --embedding-size 12 \
    --batch-size 8 --seq-length 16 --max-iters 20 --eval-val-every 20 --checkpoint-dir "cv_$model" \
    --progress log --threads 1 > /dev/null 2>&1
  ckpt="cv_$model/last.safetensors"
  ours=$("$recur" eval "$ckpt" text.txt --json --threads 1)
  theirs=$(/usr/bin/python3 "$tools/charlm_torch.py" eval "$ckpt" text.txt --json)
  /usr/bin/python3 "$tools/charlm_torch.py" to-torch "$ckpt" "$model.pt"
  /usr/bin/python3 "$tools/charlm_torch.py" from-torch "$model.pt" "back_$model.safetensors"
  back=$("$recur" eval "back_$model.safetensors" text.txt --json --threads 1)
  if ! /usr/bin/python3 - "$model" "$ours" "$theirs" "$back" <<'PY'
import json, sys
model, ours, theirs, back = sys.argv[1], *map(json.loads, sys.argv[2:])
tolerance = 1e-5
diff = abs(ours["loss"] - theirs["loss"])
print(f"{model}: recur {ours['loss']:.8f}  torch {theirs['loss']:.8f}  |diff| {diff:.2e} (tolerance {tolerance:g}); "
      f"after the round trip {back['loss']:.8f}")
ok = diff <= tolerance and ours["tokens"] == theirs["tokens"] and back["loss"] == ours["loss"]
sys.exit(0 if ok else 1)
PY
  then status=1; fi
done
exit $status
