#!/usr/bin/env bash
# Installs the Debian 12 packages recur needs, only those that are missing (idempotent).
# Usage: scripts/setup_debian.sh [--with-torch] [--with-fuzz]
#   --with-torch adds python3-torch for tools/make_goldens.py
#   --with-fuzz  adds clang with libFuzzer and the sanitizer runtimes (libclang-rt-14-dev, not pulled in
#                by clang under --no-install-recommends) and LLVM's OpenMP, for -DRECUR_FUZZ=ON
set -euo pipefail

packages=(build-essential cmake pkg-config git libdnnl-dev libopenblas-dev libgtest-dev libgmock-dev libbenchmark-dev
          libcli11-dev nlohmann-json3-dev libfmt-dev zlib1g-dev clang-format)
for arg in "$@"; do
  case "$arg" in
    --with-torch) packages+=(python3-torch) ;;
    --with-fuzz) packages+=(clang libclang-rt-14-dev libomp-dev) ;;
    *) echo "setup: unknown option '$arg' (expected --with-torch or --with-fuzz)" >&2; exit 2 ;;
  esac
done

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if ((${#missing[@]} == 0)); then
  echo "setup: all ${#packages[@]} packages present"
  exit 0
fi

sudo_cmd=()
if [[ $(id -u) -ne 0 ]]; then sudo_cmd=(sudo); fi
echo "setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
