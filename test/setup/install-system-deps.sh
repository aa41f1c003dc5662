#!/usr/bin/env bash
# Installs the Debian packages the tests use as independent references (run as root, or with sudo):
#   python3-torch, python3-numpy   the PyTorch reference for the forward pass
#   libopenblas0-pthread           without it Debian's PyTorch uses a reference BLAS (~60x slower matmuls)
#   python3-sentencepiece          the reference for the LLaMA tokenizer
#   bzip2                          an independent bz2 decoder the dataset loader is checked against
#   bubblewrap                     the sandbox organizer re-runs use (the tests run real sandboxes)
#   chromium, fonts-liberation     the headless browser the leaderboard page is tested in
#   python3-zstandard, zstd        the compression baseline solution (zstd level 3) and its independent check
#   git, sqlite3                   submissions are git repositories; sqlite3 reads the results database independently
#   g++, make                      npm ci builds better-sqlite3's native addon (against Node's headers: npm's nodedir)
set -euo pipefail
packages=(python3 python3-torch python3-numpy python3-zstandard zstd libopenblas0-pthread python3-sentencepiece bzip2 bubblewrap chromium fonts-liberation git sqlite3 g++ make)
if [ "$(id -u)" -eq 0 ]; then sudo=(); else sudo=(sudo); fi
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update
"${sudo[@]}" apt-get install -y --no-install-recommends "${packages[@]}" </dev/null
