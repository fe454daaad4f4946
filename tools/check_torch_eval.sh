#!/usr/bin/env bash
# ctest (label torch): `recur eval` and PyTorch with the converted weights give the same mean loss
# (character LMs of three cells, and a tied word LM on a slice of PTB), and a checkpoint survives
# recur -> PyTorch -> recur with identical tensors.
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
# A word-level LM (PTB's convention: <eos> per line, <unk> for the rest), tied, on a slice of PTB.
gzip -dc "$tools/../data/ptb/ptb.train.txt.gz" | sed -n 1,600p > words.txt  # sed reads it all: no SIGPIPE
gzip -dc "$tools/../data/ptb/ptb.valid.txt.gz" | sed -n 1,100p > words_val.txt
"$recur" train lm --tokens word --data words.txt --min-freq 2 --rnn-size 24 --embedding-size 24 --tied \
  --num-layers 2 --batch-size 8 --seq-length 16 --max-iters 20 --eval-val-every 20 --checkpoint-dir cv_word \
  --progress log --threads 1 > /dev/null 2>&1
ours=$("$recur" eval cv_word/last.safetensors words_val.txt --json --threads 1)
theirs=$(/usr/bin/python3 "$tools/charlm_torch.py" eval cv_word/last.safetensors words_val.txt --json)
if ! /usr/bin/python3 - "$ours" "$theirs" <<'PY'
import json, sys
ours, theirs = map(json.loads, sys.argv[1:])
tolerance = 1e-5
diff = abs(ours["loss"] - theirs["loss"])
print(f"word lstm: recur {ours['loss']:.8f}  torch {theirs['loss']:.8f}  |diff| {diff:.2e} (tolerance {tolerance:g}) "
      f"over {ours['tokens']} predictions")
sys.exit(0 if diff <= tolerance and ours["tokens"] == theirs["tokens"] else 1)
PY
then status=1; fi
exit $status
