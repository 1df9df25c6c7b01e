#!/usr/bin/env bash
# Installs what groundprobe needs on a fresh Debian machine: ffmpeg (with ffprobe) and the pinned
# Python packages (torch/torchvision from the local wheel cache where the machine has one).
set -euo pipefail
cd "$(dirname "$0")"

if ! command -v ffmpeg >/dev/null || ! command -v ffprobe >/dev/null; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup.sh: ffmpeg/ffprobe missing; install Debian's ffmpeg package (needs root)" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq ffmpeg >/dev/null
fi

python3 -m pip install -q --disable-pip-version-check -e '.[test]'
# pyenv only exposes newly installed console scripts (snakemake) after a rehash.
if command -v pyenv >/dev/null; then pyenv rehash; fi
echo "setup.sh: ready ($(python3 -c 'import torch; print("torch", torch.__version__)'), $(ffmpeg -version | head -1 | cut -d' ' -f1-3))"
