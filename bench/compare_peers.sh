#!/usr/bin/env bash
# recur vs PyTorch 1.13 (Debian python3-torch) vs oneDNN 2.6 (Debian libdnnl-dev), side by side on
# the char-LM configurations of issue 5 (2 layers, vocab 65, T = 100, I = H):
#   train  LSTM H in {128, 512} x B in {32, 64};  GRU H512 B64;  RNN H512 B64
#   infer  LSTM H512 B64
#   gen    LSTM H512, batch 1 (µs per sampled token)
#   layers LSTM H in {128, 512} B64: recur's recurrent stack alone against oneDNN's training case
#          (which times the layers alone), for a like-for-like ratio
#   tag-train, tag-infer  the tagger (bidirectional LSTM 200 + character LSTM, softmax) on UD English
#          EWT sentences in batches of 32, against the same model in PyTorch (tokens/s = words/s)
# each at every thread count in THREADS. For one configuration and thread count the engines run
# back to back (recur, oneDNN, PyTorch), so slow phases of a shared machine hit all of them.
# oneDNN runs only the LSTM train/infer cases, and only the recurrent layers (bench/peers/dnnl_lstm.cpp).
#
#   bench/compare_peers.sh                 # full run, roughly 8 min on 2 cores
#   QUICK=1 bench/compare_peers.sh         # smoke test: 1 repetition of >= 0.2 s per cell
#   THREADS=1 ONLY='train-lstm' bench/compare_peers.sh
#
# Environment:
#   REPS=5          repetitions per cell (each >= MIN_TIME seconds after warm-up)
#   MIN_TIME=1.0    seconds per repetition
#   THREADS="1 2"   thread counts
#   QUICK=1         REPS=1, MIN_TIME=0.2
#   ONLY=REGEX      run only configuration ids matching REGEX (ids: train-lstm-h512-b64, gen-lstm-h512-b1, ...)
#   RECUR_BUILD=0   do not (re)build recur; use the existing binary
#   RECUR=PATH      recur binary (default ./build/cli/recur)
#   OUT=PATH        results file (default bench/results/peers-YYYYMMDD-HHMM.jsonl)
#   KEEP_OPENBLAS_CORETYPE=1  keep an OPENBLAS_CORETYPE set in the environment (default: unset it)
#
# Output: one JSON object per engine and cell in $OUT (plus one "meta" record; each record also
# carries "busy_before", the share of the CPU other processes used in the 0.5 s before its run: on a
# shared box 2-thread cells measured while a core is taken are not comparable, as OpenMP
# spin-waiting collapses then; the table marks such rows with !), stderr of every
# run in ${OUT%.jsonl}.log, and a markdown table (also saved as ${OUT%.jsonl}.md) with tokens/s and
# the ratios recur/oneDNN and recur/PyTorch. Thread settings: recur --threads N; oneDNN
# OMP_NUM_THREADS=N; PyTorch OMP_NUM_THREADS=N OPENBLAS_NUM_THREADS=N, and for N > 1
# OMP_WAIT_POLICY=PASSIVE (otherwise its OpenMP and OpenBLAS pools fight over the cores).
set -euo pipefail
cd "$(dirname "$0")/.."

PY=/usr/bin/python3 # Debian's interpreter: the one that sees python3-torch
REPS=${REPS:-5}
MIN_TIME=${MIN_TIME:-1.0}
THREADS=${THREADS:-"1 2"}
if [[ ${QUICK:-0} == 1 ]]; then
  REPS=1
  MIN_TIME=0.2
fi
ONLY=${ONLY:-.}
RECUR=${RECUR:-./build/cli/recur}
DNNL=./build-peers/dnnl_lstm
stamp=$(date +%Y%m%d-%H%M)
OUT=${OUT:-bench/results/peers-$stamp.jsonl}
LOG=${OUT%.jsonl}.log
TABLE=${OUT%.jsonl}.md

say() { printf '%s\n' "compare_peers: $*"; }

# ---- 1. packages ------------------------------------------------------------------------------
missing=()
for pkg in python3-torch libdnnl-dev; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  sudo_cmd=()
  [[ $(id -u) -eq 0 ]] || sudo_cmd=(sudo)
  say "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  if ! "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"; then
    "${sudo_cmd[@]}" apt-get update -qq
    "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
  fi
fi
for tool in g++ cmake "$PY"; do
  command -v "$tool" >/dev/null || { say "$tool not found (scripts/setup_debian.sh installs the toolchain)"; exit 1; }
done

# PyTorch computes with Debian's OpenBLAS (recur too when its build has no oneDNN, or with
# RECUR_BLAS=openblas), which picks its kernels for the CPU model unless OPENBLAS_CORETYPE names a
# core. Some machines set it in the environment (seen here: Haswell on an AVX-512 AMD EPYC, which
# halves OpenBLAS's SGEMM rate there while oneDNN keeps its AVX-512 code), so it is removed for all
# engines; KEEP_OPENBLAS_CORETYPE=1 keeps it. The meta record says which.
if [[ -n ${OPENBLAS_CORETYPE:-} && ${KEEP_OPENBLAS_CORETYPE:-0} != 1 ]]; then
  say "ignoring OPENBLAS_CORETYPE=$OPENBLAS_CORETYPE: OpenBLAS picks its own kernels (KEEP_OPENBLAS_CORETYPE=1 keeps it)"
  unset OPENBLAS_CORETYPE
fi
openblas_core="$(OPENBLAS_VERBOSE=2 "$PY" -c 'import ctypes, ctypes.util; ctypes.CDLL("libopenblas.so.0")' 2>&1 |
  sed -n 's/^Core: //p')"

# ---- 2. builds --------------------------------------------------------------------------------
mkdir -p build-peers "$(dirname "$OUT")"
if [[ ! -x $DNNL || bench/peers/dnnl_lstm.cpp -nt $DNNL ]]; then
  say "building $DNNL"
  g++ -std=c++17 -O3 -march=native -fopenmp bench/peers/dnnl_lstm.cpp -o "$DNNL" -ldnnl
fi

have_recur=1
if [[ ${RECUR_BUILD:-1} != 0 ]]; then
  say "building recur (cmake -B build && cmake --build build -j2 --target recur_cli)"
  if ! { cmake -B build >/dev/null && cmake --build build -j2 --target recur_cli; }; then
    say "recur build FAILED: measuring the peers only"
    have_recur=0
  fi
fi
recur_opts=()
if ((have_recur)); then
  if [[ ! -x $RECUR ]]; then
    say "$RECUR not found: measuring the peers only"
    have_recur=0
  elif ! "$RECUR" --help 2>&1 | grep -Eq '^ +bench( |$)' ||
    ! recur_help=$("$RECUR" bench --help 2>&1) || [[ $recur_help != *--mode* ]]; then
    # (CLI11 answers `recur bench --help` with the top-level help when there is no such subcommand)
    say "'recur bench' does not exist yet in $RECUR: skipping recur, measuring the peers only"
    have_recur=0
  else
    # pass the repetition settings when the subcommand has them (its defaults otherwise)
    [[ $recur_help == *--reps* ]] && recur_opts+=(--reps "$REPS")
    [[ $recur_help == *--min-time* ]] && recur_opts+=(--min-time "$MIN_TIME")
  fi
fi

# ---- 3. measurements --------------------------------------------------------------------------
# Share of all cores busy over 0.5 s (we are idle meanwhile, so: the other processes' load).
cpu_busy() {
  local a b
  a=$(awk '/^cpu /{print $2+$3+$4+$7+$8+$9, $2+$3+$4+$5+$6+$7+$8+$9}' /proc/stat)
  sleep 0.5
  b=$(awk '/^cpu /{print $2+$3+$4+$7+$8+$9, $2+$3+$4+$5+$6+$7+$8+$9}' /proc/stat)
  awk -v a="$a" -v b="$b" 'BEGIN { split(a, x); split(b, y); d = y[2] - x[2]; f = 0
    if (d > 0) f = (y[1] - x[1]) / d
    printf "%.2f\n", f }'
}

load=$(cut -d' ' -f1 /proc/loadavg)
busy=$(cpu_busy)
$PY bench/peers/peers_jsonl.py meta "$OUT" "date=$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
  "cpu=$(lscpu | sed -n 's/^Model name: *//p')" "cores=$(nproc)" "reps=$REPS" "min_time=$MIN_TIME" \
  "threads=$THREADS" "recur_commit=$(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet 2>/dev/null || echo '+dirty')" \
  "packages=$(dpkg-query -W -f='${Package}=${Version} ' python3-torch libdnnl2 libopenblas0-pthread 2>/dev/null)" \
  "loadavg_start=$load" "busy_start=$busy" \
  "openblas_coretype=${openblas_core:-?}${OPENBLAS_CORETYPE:+ (OPENBLAS_CORETYPE=$OPENBLAS_CORETYPE)}" \
  "recur_version=$( ((have_recur)) && "$RECUR" --version 2>&1 | head -1 || echo '-')"
say "results -> $OUT (stderr -> $LOG); reps $REPS x >= $MIN_TIME s; threads: $THREADS"
awk -v b="$busy" 'BEGIN { exit !(b > 0.25) }' &&
  say "note: other processes keep $(awk -v b="$busy" 'BEGIN { printf "%d", 100 * b }')% of the CPU busy; expect noisy numbers"

# run ENGINE CONFIG THREADS CMD...: runs CMD, appends its JSON line(s) to $OUT.
run() {
  local engine=$1 config=$2 threads=$3 rc=0 output busy
  shift 3
  busy=$(cpu_busy)
  printf '%s\n' "### $config threads=$threads (busy before: $busy): $*" >>"$LOG"
  output=$("$@" 2>>"$LOG") || rc=$?
  printf '%s\n' "$output" | $PY bench/peers/peers_jsonl.py add "$OUT" --engine "$engine" --config "$config" \
    --threads "$threads" --rc "$rc" --busy "$busy" --cmd "$*" || true
}

# mode model hidden batch [vocab seq-length]: the RNN LM (vocabulary 65, 100 steps) unless given;
# the word LM rows are PTB's shapes (vocabulary 10k, batch 20, 35 steps; Zaremba's small and medium).
configs=(
  "train lstm 128 32" "train lstm 128 64" "train lstm 512 32" "train lstm 512 64"
  "train gru 512 64" "train rnn 512 64"
  "infer lstm 512 64"
  "gen lstm 512 1"
  "layers lstm 128 64" "layers lstm 512 64"
  "train lstm 200 20 10000 35" "train lstm 650 20 10000 35"
  "tag-train lstm 200 32" "tag-infer lstm 200 32"
)
for cfg in "${configs[@]}"; do
  vocab=65 seq=100
  read -r mode model hidden batch vocab_given seq_given <<<"$cfg"
  id="$mode-$model-h$hidden-b$batch"
  if [[ -n $vocab_given ]]; then
    vocab=$vocab_given seq=$seq_given
    id="$id-v$vocab-t$seq"
  fi
  [[ $id =~ $ONLY ]] || continue
  recur_model=$model
  [[ $model == rnn ]] && recur_model=rnn_tanh # recur's name for nn.RNN's default cell
  for t in $THREADS; do
    say "$id, $t thread(s)"
    if ((have_recur)); then
      run recur "$id" "$t" env -u OMP_WAIT_POLICY OMP_NUM_THREADS="$t" RECUR_NUM_THREADS="$t" \
        "$RECUR" bench --mode "$mode" --model "$recur_model" --hidden "$hidden" --batch "$batch" --threads "$t" \
        --vocab "$vocab" --seq-length "$seq" "${recur_opts[@]}" --json
    fi
    if [[ $model == lstm && $mode != gen && $mode != tag-* && $vocab == 65 ]]; then # oneDNN: the layers alone
      dnnl_mode=$mode
      [[ $mode == layers ]] && dnnl_mode=train # oneDNN's training case is the layers alone
      run onednn "$id" "$t" env -u OMP_WAIT_POLICY OMP_NUM_THREADS="$t" \
        "$DNNL" "$dnnl_mode" 100 "$batch" "$hidden" 2 "$REPS" "$MIN_TIME" --json
    fi
    [[ $mode == layers ]] && continue # PyTorch runs whole models only
    wait_policy=()
    ((t > 1)) && wait_policy=(OMP_WAIT_POLICY=PASSIVE)
    if [[ $mode == tag-* ]]; then # the tagger: same model and UD EWT batches (bench/peers/torch_tagger.py)
      run pytorch "$id" "$t" env -u OMP_WAIT_POLICY OMP_NUM_THREADS="$t" OPENBLAS_NUM_THREADS="$t" \
        "${wait_policy[@]}" "$PY" bench/peers/torch_tagger.py --mode "$mode" --model "$model" --hidden "$hidden" \
        --batch "$batch" --threads "$t" --reps "$REPS" --min-time "$MIN_TIME" --json
      continue
    fi
    run pytorch "$id" "$t" env -u OMP_WAIT_POLICY OMP_NUM_THREADS="$t" OPENBLAS_NUM_THREADS="$t" \
      "${wait_policy[@]}" "$PY" bench/peers/torch_charlm.py --mode "$mode" --model "$model" --hidden "$hidden" \
      --batch "$batch" --seq-length "$seq" --vocab "$vocab" --threads "$t" --reps "$REPS" --min-time "$MIN_TIME" --json
  done
done

# ---- 4. table ---------------------------------------------------------------------------------
echo
$PY bench/peers/peers_jsonl.py table "$OUT" | tee "$TABLE"
((have_recur)) || say "recur was not measured (see above); the recur columns are empty"
