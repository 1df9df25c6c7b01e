#!/usr/bin/env bash
# The GPU check of issue 16 (item 8), one command, under 8 minutes on one GPU:
#   benchmarks/gpu_check.sh                 # on a machine with a CUDA GPU
#   benchmarks/gpu_check.sh --cpu-smoke     # tiny sizes on the CPU: shows that the script works
#   benchmarks/gpu_check.sh --decoders 12   # decoder processes in the throughput runs
# Device tests, bf16 vs fp32 features, Inception-v3 256² and S3D-G 30x224² throughput with
# decoding in the loop vs model-only, the out-of-memory split, train steps on CUDA vs CPU; one
# table (check, result, value) at the end. Installs nothing: the checkout's code runs from
# PYTHONPATH, with whatever torch, torchvision and the project's other packages the machine has
# (a missing one is named in the first row). See benchmarks/gpu_check.py for each check.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
# SIGINT at 7.5 minutes: the script prints the table of the checks done so far.
exec timeout --signal=INT --kill-after=20 450 python3 benchmarks/gpu_check.py "$@"
