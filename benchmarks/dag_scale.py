"""Benchmark: the workflow's DAG up to YouTube-8M's whole id list (how long `snakemake -n` takes,
and its memory).

For each corpus size N it builds, in a temporary work directory, what a YouTube-600K run starts
from: a sources table of N videos of source_type ytdlp (fake 11-character YouTube ids, 1-3
YouTube-8M label names each, drawn by the vocabulary's video counts, YouTube-8M-like train and
validation split) and a config (config.yaml, or with --preset youtube600k config.yaml merged with
config/youtube600k.yaml as the paper's run does, with the given shard_size, curation off since there
is no target corpus, and the model comparison off unless --instructional gives training videos an
instructional label). Then it

  1. runs the manifest checkpoint for real (`snakemake --cores 1 results/manifest.tsv`), without
     network access where `unshare -rn` can take it away (ytdlp rows need none until download),
  2. times dry runs of the targets (`snakemake -n --cores all results/auc_by_category.csv`, and the
     default target `all`),

each in a fresh measuring process (the manifest's time includes snakemake's start-up, which
without a network can wait up to 10 s more for the slurm executor plugin's `scontrol show config`
where a slurm client is installed), and prints wall seconds, peak memory (ru_maxrss of the measuring
process's children: the largest of snakemake and any process it starts), shards, planned jobs, jobs
per shard and, per rule, the planned jobs at each N. Nothing is downloaded or computed beyond the
manifest.

    python benchmarks/dag_scale.py                                  # 80K, 800K, 6.1M videos
    python benchmarks/dag_scale.py --videos 800000 --shard-size 500 --preset youtube600k
    python benchmarks/dag_scale.py --videos 6100000 --targets results/auc_by_category.csv

Budget (issue 16): `snakemake -n` on YouTube-8M's whole list (6.1M ids, shard_size 1,000: 6,100
shards) in under 60 s and 4 GB; --strict exits 1 when a dry run misses --wall-budget (CPU seconds:
snakemake -n runs on one core, so on an idle core its wall time is its CPU time, while on a shared
machine the wall time measures the neighbours) or --memory-budget.

Why the DAG build was quadratic: Snakemake checks every consumer of a job's output against that
job's whole input list (`file in job.input` in DAG.update). evaluate (one job per shard) consumes
train's checkpoint and segments (one per shard) consume vocab's table, and train's input was 3
files per shard, vocab's one: 6,100 x 24,400 ≈ 1.5e8 path comparisons at 6,100 shards. vocab and
train now read one listing per kind of shard file (rule shard_listing), whose input lists are
checked once each.

Measured 2026-12-03 on the 2-core development machine under a load average of 12-16 (other
sessions' benchmarks), 1,000,000 videos (1,000 shards), target results/auc_by_category.csv,
counting Snakemake's path comparisons (_IOFile.__eq__, /tmp count_eq wrapper around the CLI):

    | 1,000 shards           | path comparisons | CPU s (counted run) | CPU s (plain run) | peak MB |
    | before (9190cc1)       |        8,121,094 |        33.0         |       28.8        |   341   |
    | after (shard_listing)  |          133,093 |        32.0         |       28.6        |   340   |

(wall times 160-335 s: the machine's load, not the dry run's cost)

At 1,000 shards the comparisons cost ~3 s of the 29 (cProfile: 17.7 of 96 profiled s), hence the
equal CPU times; they grow with shards², the rest with shards: extrapolated to 6,100 shards,
before ≈ 3.0e8 comparisons (≈ 100+ s, the issue measured 241 s in all), after ≈ 0.8M.

Where the linear rest goes. cProfile of `snakemake -n --cores all results/auc_by_category.csv`
at 1,000,000 videos (1,000 shards, 6,009 jobs; Snakemake 9.27.1), 2026-12-03, in profiled
seconds (≈ 3.5x CPU s) of 84.6, cumulative, a line's parts indented:

    startup: imports 11.9 (of it ~9 wall s waiting on the slurm plugin's scontrol, no CPU)
    DAG build (DAG.update, job creation, input/output/log/params expansion)      13.6
    postprocess: the `script:` source read per job (ScriptProcessor)            12.0
                 needrun 5.3, check_jobs 1.9, conda envs 1.8
    dry-run job listing (Job.log_info, 6,009 calls)                             23.5
        Job.resources: each callable resource (mem_mb, runtime: attempt x)
        goes through Snakemake's input-function machinery (inspect.signature
        3x per value), besides its own tmpdir and threads                       15.2
    the workflow's own code: manifest_shards 1.1 (0.57 after the change
    below), every input function, params and resources callable together        0.02

i.e. the workflow's code is < 2 % of the dry run; the rest is Snakemake's cost per job, set by
the directives every rule has. Their share, measured by stripping them from a copy of the
workflow (CPU s at 1,000 shards; one series in a row under a load of 2-4, two more interleaved
under 5-8, all but the first row with `--rerun-triggers mtime`; single directives are within the
noise):

    | variant                                            | load 2-4 | load 5-8   |
    | as is                                              |   21.5   | 20.7, 24.0 |
    | constant mem_mb/runtime (no attempt x)             |   18.7   | 19.7, 22.5 |
    | no conda:, no benchmark:                           |   17.9   |            |
    | no conda:                                          |          | 20.5, 21.5 |
    | no benchmark:                                      |          | 22.0, 20.5 |
    | script: -> shell: "true"                           |          | 22.9, 20.2 |
    | the floor: all four of the above                   |   14.7   | 19.1, 17.6 |
    | as is, -q (no job listing nor job stats)           |   15.4   | 16.9, 16.9 |
    | the floor, -q                                      |    8.7   |  9.7,  9.2 |
    | start-up alone (-n results/manifest.tsv, no jobs)  |    3.0   |            |

So Snakemake 9.27 spends ≈ 3.1 ms per job on these rules (≈ 1.9 ms at the floor, ≈ 1 ms of it the
dry run's job listing): at 6 jobs per shard, 6,100 shards cost ≥ 3 + 36,609 x 1.9 ms ≈ 74 CPU s
even with every directive dropped, and ≈ 115 s as the rules are. Under 60 s at 6,100 shards takes
at most ≈ 18,000 planned jobs (≈ 3 per shard) with these rules, i.e. fewer per-shard jobs (merged
per-shard rules or several shards per job), not cheaper workflow code; nothing of the kind is
done here. Dropping the attempt-scaled resources (a retry asks for more memory and time) would
save ≈ 13 % and is not done either.

The manifest read of the input functions (groundprobe.ingest.manifest.manifest_shards) now reads the
corpus column as a category and deduplicates (corpus, shard) pairs before grouping: 6.1M ids
2.2-3.1 -> 1.4-1.8 CPU s per dry run. Measured after, 2026-12-03, load 5-8
(`python benchmarks/dag_scale.py --videos 6100000 --targets results/auc_by_category.csv`):

    |  videos   | shards | command                        | wall s | CPU s | peak MB |  jobs  |
    | 6,100,000 |  6,100 | manifest (--cores 1)           |  365.2 |  94.1 |  3,204  |      1 |
    | 6,100,000 |  6,100 | -n results/auc_by_category.csv |  246.1 | 121.8 |    958  | 36,609 |

121.8 CPU s (the earlier 145.3 under a load of 12-16): linear (≈ 20 CPU s per 1,000 shards) and
MISSED against 60 s; the memory budget (4 GB) is met.

Rerun 2026-12-04 on main at 62b5ae0, same command, load 0-2 (the same command at 1,000,000 videos
on an idle machine: 18.4 CPU s, 27.4 wall s of which ~9 s wait for `scontrol`, 324 MB, 6,009 jobs):

    | 6,100,000 |  6,100 | manifest (--cores 1)           |  106.1 |  81.5 |  3,205  |      1 |
    | 6,100,000 |  6,100 | -n results/auc_by_category.csv |  137.3 | 105.5 |    958  | 36,609 |

i.e. ≈ 3 s + 2.8 ms per planned job: still MISSED. Directive variants on a copy of the workflow,
1,000,000 videos, idle machine, all with `--rerun-triggers mtime` (the copy's code hash differs),
CPU s: as is 16.9, constant mem_mb/runtime 15.5 (-8 %), every `script:` a `shell:` 15.4 (-9 %).
No directive is worth more than ~10 %, so under 60 s at 6,100 shards needs at most ≈ 20,000
planned jobs (≈ 3.3 per shard) with these rules. The per-shard chain download → asr → features_2d,
features_3d → segments (needs vocab, built from every shard's asr) → evaluate (needs train) has
no two steps that merge without a cost: asr could run inside download (it has no settings), but
merging features_2d and features_3d would recompute one stream when the other's settings change,
and segments and evaluate sit on either side of whole-corpus rules. What would meet the budget is
a second, coarser unit of work for the cheap or GPU-batched per-shard steps (e.g. asr, segments and
evaluate per group of 10 shards, asr inside download: ≈ 2.2 jobs per shard, ≈ 40 s extrapolated),
which changes every per-shard path those steps write and read; not done then. A larger
corpus.shard_size met it, measured the same day under a load of 3-5 (`--videos 6100000
--shard-size 2500 --targets results/auc_by_category.csv`): 2,440 shards, 14,649 jobs, 44.0 CPU s
(93.8 wall s), 490 MB.

Blocks (2026-12-04): every stage after download now runs one job per block of 10 consecutive
shards of one corpus (groundprobe.ingest.manifest.SHARDS_PER_BLOCK), writing each shard's file into the
block's folder, so a shard's files and their contents are as before and only the jobs are fewer:
1.5 jobs per shard for results/auc_by_category.csv, 1.6 for the default target (7 before). Measured
with `python benchmarks/dag_scale.py --videos 6100000` on the 2-core machine while a tiny workflow
ran beside it (CPU s are the dry run's own; it runs on one core):

    |  videos   | shards | command                        | wall s | CPU s | peak MB |  jobs |
    | 6,100,000 |  6,100 | manifest (--cores 1)           |  118.7 |  96.4 |  5,979  |     1 |
    | 6,100,000 |  6,100 | -n results/auc_by_category.csv |   31.0 |  21.1 |    513  | 9,159 |
    | 6,100,000 |  6,100 | -n all                         |   39.1 |  24.9 |    528  | 9,778 |

i.e. met (60 s, 4 GB). The manifest job's peak memory (5,979 MB) is not the dry run's: it was
3,205 MB at 62b5ae0, before the sources tables were read losslessly and the local input files
fingerprinted (issue 17); left as it is here.

The manifest at 1M ids (build_manifest + write_table, in-process CPU s): before 7.3 + 5.8, after
8.7 + 7.8 under the same load, i.e. no measurable change from filling verticals once per distinct
label list; peak RSS 690 MB both (≈ 4 GB at 6.1M, as the issue measured).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from snakemake.utils import update_config

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from groundprobe.ingest.manifest import SHARDS_PER_BLOCK, load_yt8m_vocabulary  # noqa: E402

DEFAULT_TARGET = "all"  # run without a target: the Snakefile's default target, rule all
# YouTube's id alphabet; ids are 5 random characters and the row number in 6 base-64 digits, so
# they are unique by construction and still look like (and validate as) YouTube ids.
ID_ALPHABET = np.array(list("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"))
# The paper's weights, which config/youtube600k.yaml names: the start-up check wants the files to
# exist (an empty file is enough for a dry run).
PAPER_WEIGHTS = ("inception_v3_google-0cc3c7bd.pth", "s3d_howto100m.pth")

# Run in a fresh interpreter per measurement: runs the command with its output to a file and
# reports the command's wall time and the peak RSS of its largest process (RUSAGE_CHILDREN: the
# largest resident set among the waited-for descendants; Linux reports kB).
MEASURE = r"""
import json, resource, subprocess, sys, time
log, cmd = sys.argv[1], sys.argv[2:]
with open(log, "w") as out:
    start = time.perf_counter()
    rc = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT).returncode
    wall = time.perf_counter() - start
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({"rc": rc, "wall_s": wall, "cpu_s": usage.ru_utime + usage.ru_stime,
                  "peak_mb": usage.ru_maxrss / 1024}))
"""


def fake_youtube_ids(n: int, rng: np.random.Generator) -> list[str]:
    """n distinct 11-character YouTube-style ids."""
    prefix = ID_ALPHABET[rng.integers(0, 64, size=(n, 5))]
    rows = np.arange(n)
    digits = ID_ALPHABET[np.stack([(rows >> (6 * k)) & 63 for k in range(5, -1, -1)], axis=1)]
    return ["".join(chars) for chars in np.concatenate([prefix, digits], axis=1)]


def sources_table(n: int, seed: int = 0, instructional: float = 0.0) -> pd.DataFrame:
    """A sources table of n ytdlp videos (docs/own_corpus.md): video_id and source the
    YouTube id, labels 1-3 YouTube-8M label names (verticals left empty, so the manifest looks
    them up), split train or validation (YouTube-8M's ~6:1), captions empty as ytdlp rows need.
    With ``instructional`` > 0 that fraction of the videos carries a 1/0 instructional label."""
    rng = np.random.default_rng(seed)
    vocab = load_yt8m_vocabulary()
    vocab = vocab[vocab["Name"] != ""]
    names = vocab["Name"].to_numpy()
    weights = vocab["TrainVideoCount"].to_numpy(dtype=float)
    drawn = rng.choice(len(names), size=(n, 3), p=weights / weights.sum())
    n_labels = rng.integers(1, 4, size=n)
    labels = [";".join(dict.fromkeys(names[row[:k]])) for row, k in zip(drawn, n_labels)]
    split = np.where(rng.random(n) < 6 / 7, "train", "validation")
    labelled = rng.random(n) < instructional
    flags = np.where(labelled, np.where(rng.random(n) < 0.3, "1", "0"), "")
    ids = fake_youtube_ids(n, rng)
    return pd.DataFrame(
        {
            "video_id": ids,
            "source": ids,
            "source_type": "ytdlp",
            "captions": "",
            "labels": labels,
            "verticals": "",
            "split": split,
            "instructional": flags,
        }
    )


def scale_config(preset: str, shard_size: int, model_comparison: bool) -> dict:
    """config.yaml (merged with config/youtube600k.yaml for that preset), reading sources.tsv in
    shards of shard_size, with no curation (no target corpus) and M_Instructional, when compared,
    trained on the corpus's videos labelled instructional."""
    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    if preset == "youtube600k":
        update_config(config, yaml.safe_load((ROOT / "config/youtube600k.yaml").read_text()))
    config["corpus"].update(sources="sources.tsv", shard_size=shard_size, target_sources="")
    config["curation"]["enabled"] = False
    config["analysis"]["model_comparison"]["enabled"] = model_comparison
    # M_Instructional on the generated corpus's instructional videos, not on a corpus of its own.
    config["corpus"]["instructional_sources"] = ""
    config["train"]["models"]["instructional"] = {"split": "train", "instructional": 1}
    return config


def no_network_prefix() -> list[str]:
    """`unshare -rn` (a private network namespace with no interfaces) when this system allows it."""
    if shutil.which("unshare") is None:
        return []
    probe = subprocess.run(["unshare", "-rn", "true"], capture_output=True)
    return ["unshare", "-rn"] if probe.returncode == 0 else []


def measure(cmd: list[str], log: Path, env: dict | None = None) -> dict:
    """Wall seconds, peak MB and exit status of ``cmd``, run by a fresh measuring interpreter."""
    result = subprocess.run(
        [sys.executable, "-c", MEASURE, str(log), *cmd], capture_output=True, text=True, env=env, check=True
    )
    return json.loads(result.stdout)


def planned_jobs(dry_run_output: str) -> dict[str, int]:
    """Job counts per rule from the 'Job stats' table a dry run prints (as tests/test_workflow.py)."""
    table = dry_run_output.split("Job stats:")[-1]
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)$", table, re.M) if m.group(1) != "total"}


def snakemake_cmd(workdir: Path, *args: str) -> list[str]:
    return ["snakemake", "--snakefile", str(ROOT / "Snakefile"), "--directory", str(workdir), *args]


def run_size(n: int, args: argparse.Namespace, base: Path, isolate: list[str]) -> list[dict]:
    """Build the corpus of n videos, run its manifest, time the dry runs; one row per command."""
    workdir = base / f"videos_{n}"
    workdir.mkdir(parents=True)
    env = None
    if args.preset == "youtube600k":
        checkpoints = workdir / "torch/hub/checkpoints"
        checkpoints.mkdir(parents=True)
        for name in PAPER_WEIGHTS:
            (checkpoints / name).write_bytes(b"")
        env = {**os.environ, "TORCH_HOME": str(workdir / "torch")}
    instructional = args.instructional > 0
    config = scale_config(args.preset, args.shard_size, instructional)
    (workdir / "config.yaml").write_text(yaml.safe_dump(config))
    sources_table(n, args.seed, args.instructional).to_csv(workdir / "sources.tsv", sep="\t", index=False)
    rows = []
    manifest = measure(
        isolate + snakemake_cmd(workdir, "--cores", "1", "results/manifest.tsv"), workdir / "manifest.log", env
    )
    if manifest["rc"] != 0:
        sys.exit(
            f"manifest of {n} videos failed, see {workdir / 'manifest.log'}:\n"
            + (workdir / "manifest.log").read_text()[-3000:]
        )
    shards = pd.read_csv(workdir / "results/manifest.tsv", sep="\t", usecols=["shard"])["shard"].nunique()
    rows.append({"videos": n, "shards": shards, "command": "manifest (--cores 1)", **manifest, "jobs": 1, "rules": {}})
    for target in args.targets:
        timings, jobs = [], {}
        for repeat in range(args.repeat):
            log = workdir / f"dry_{target.replace('/', '_')}_{repeat}.log"
            targets = [] if target == DEFAULT_TARGET else [target]
            timing = measure(snakemake_cmd(workdir, "-n", "--cores", "all", *targets), log, env)
            if timing["rc"] != 0:
                sys.exit(f"dry run of {target} at {n} videos failed, see {log}:\n" + log.read_text()[-3000:])
            timings.append(timing)
            jobs = planned_jobs(log.read_text())
        rows.append(
            {
                "videos": n,
                "shards": shards,
                "command": f"-n {target}",
                "rc": 0,
                "wall_s": float(np.median([t["wall_s"] for t in timings])),
                "cpu_s": float(np.median([t["cpu_s"] for t in timings])),
                "peak_mb": max(t["peak_mb"] for t in timings),
                "jobs": sum(jobs.values()),
                "rules": jobs,
            }
        )
    if not args.keep:
        shutil.rmtree(workdir)
    return rows


def print_tables(rows: list[dict], args: argparse.Namespace) -> bool:
    """The summary table and the per-rule job counts; True when every dry run met the budgets."""
    ok = True
    print(
        f"\n{'videos':>9} {'shards':>7}  {'command':<34} {'wall s':>7} {'CPU s':>7} {'peak MB':>8} "
        f"{'jobs':>7} {'jobs/shard':>10}  budget"
    )
    for row in rows:
        dry = row["command"].startswith("-n")
        met = row["cpu_s"] < args.wall_budget and row["peak_mb"] < args.memory_budget
        ok &= met or not dry
        verdict = ("ok" if met else "MISSED") if dry else ""
        per_shard = f"{row['jobs'] / row['shards']:.2f}" if dry else ""
        print(
            f"{row['videos']:>9,} {row['shards']:>7,}  {row['command']:<34} {row['wall_s']:>7.1f} "
            f"{row['cpu_s']:>7.1f} "
            f"{row['peak_mb']:>8.0f} {row['jobs']:>7,} {per_shard:>10}  {verdict}"
        )
    print(
        f"(budget: a dry run under {args.wall_budget:g} CPU s and {args.memory_budget:g} MB; "
        f"snakemake -n runs on one core, so on an idle machine its wall time is its CPU time)"
    )
    for target in args.targets:
        dry = [row for row in rows if row["command"] == f"-n {target}"]
        rules = list(dict.fromkeys(rule for row in dry for rule in row["rules"]))
        print(f"\njobs by rule, -n {target}")
        print(f"{'rule':<20}" + "".join(f"{row['shards']:>9,}" for row in dry) + "  (shards)")
        for rule in rules:
            counts = [row["rules"].get(rule, 0) for row in dry]
            print(f"{rule:<20}" + "".join(f"{c:>9,}" for c in counts) + f"  {growth(counts, dry)}")
    return ok


def growth(counts: list[int], dry: list[dict]) -> str:
    """How a rule's job count grows: k per shard, k per block of SHARDS_PER_BLOCK shards, constant
    per run, or neither (OTHER)."""
    constant = len(set(counts)) == 1
    for unit, size in (("shard", 1), ("block", SHARDS_PER_BLOCK)):
        per_unit = {count / -(-row["shards"] // size) for count, row in zip(counts, dry)}
        if len(per_unit) == 1 and not (constant and len(dry) > 1):
            k = per_unit.pop()
            if k >= 1 and k == int(k):
                return f"{int(k)} per {unit}"
    return f"{counts[0]} per run" if constant else "OTHER"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--videos",
        type=int,
        nargs="+",
        default=[80_000, 800_000, 6_100_000],
        help="corpus sizes N (default: 80000 800000 6100000, YouTube-8M's list)",
    )
    parser.add_argument(
        "--shard-size", type=int, default=1000, help="corpus.shard_size (default 1000, as config/youtube600k.yaml)"
    )
    parser.add_argument(
        "--preset",
        choices=("default", "youtube600k"),
        default="default",
        help="config.yaml alone, or merged with config/youtube600k.yaml (the "
        "paper's backbones, deleting videos after features: rule prune_videos)",
    )
    parser.add_argument(
        "--targets",
        nargs="+",
        default=["results/auc_by_category.csv", DEFAULT_TARGET],
        help=f"dry-run targets; '{DEFAULT_TARGET}' runs without one (the default target)",
    )
    parser.add_argument(
        "--instructional",
        type=float,
        default=0.0,
        help="fraction of videos with an instructional label; > 0 also turns the "
        "model comparison on (M_Instructional is trained)",
    )
    parser.add_argument("--repeat", type=int, default=1, help="dry runs per target (median wall s)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--workdir", type=Path, default=None, help="where the work directories go (default: a temporary directory)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the work directories")
    parser.add_argument(
        "--wall-budget", type=float, default=60.0, help="CPU seconds per dry run (its wall time on an idle core)"
    )
    parser.add_argument("--memory-budget", type=float, default=4096.0, help="MB per dry run")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a dry run misses a budget")
    parser.add_argument("--json", type=Path, default=None, help="also write the rows as JSON here")
    args = parser.parse_args()

    isolate = no_network_prefix()
    print(
        f"manifest runs {'without network (unshare -rn)' if isolate else 'with the host network'}; "
        f"preset {args.preset}, shard_size {args.shard_size}",
        flush=True,
    )
    rows = []
    base = Path(tempfile.mkdtemp(prefix="dag_scale_", dir=args.workdir))
    try:
        for n in args.videos:
            rows += run_size(n, args, base, isolate)
            for row in rows[-1 - len(args.targets) :]:
                print(
                    f"  {row['videos']:,} videos, {row['command']}: {row['wall_s']:.1f} s "
                    f"({row['cpu_s']:.1f} CPU s), "
                    f"{row['peak_mb']:.0f} MB, {row['jobs']:,} jobs",
                    flush=True,
                )
    finally:
        if args.keep:
            print(f"work directories kept in {base}")
        else:
            shutil.rmtree(base, ignore_errors=True)
    ok = print_tables(rows, args)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    if args.strict and not ok:
        sys.exit(1)


if __name__ == "__main__":
    main()
