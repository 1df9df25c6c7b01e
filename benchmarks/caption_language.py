"""Benchmark: what the caption language check (groundprobe.captions.caption_language) adds to the asr stage.

For each caption file it times, in CPU seconds of this process (median of ``--repeats``), what
the asr stage already does per file (parse_captions, groundprobe.captions.caption_words, and the
token table, groundprobe.captions.asr) and what the check adds (reading the WebVTT header and
judging the tokens), and prints both per file, the check per 1,000 words, and the ratio check /
parse. The model load, once per asr job (one per shard), is timed apart. From the mean cost per
word it extrapolates the check's CPU time at 640K videos of the mean size of the real ASR files.

    PYTHONPATH=. python benchmarks/caption_language.py     # ../shared/realdata and the demo's captions
    PYTHONPATH=. python benchmarks/caption_language.py --files my/*.vtt

Measured 2026-12-04 (``PYTHONPATH=. python benchmarks/caption_language.py --demo
/work/main/resources/demo_corpus/captions``, 2-core CPU shared with other jobs, load average 1.5;
py3langid 0.4.0, numpy 2.4.6; CPU milliseconds per file, median of 5):

    model load: 0.52 CPU s (once per asr job)
    file                                            words  parse ms  check ms  us/word check/parse
    ethansk_fortnite_2018.en.vtt                      444     12.67      2.73      6.2       0.22x
    qkeluna_song_2025.en.vtt                          147      5.46      0.95      6.4       0.17x
    richardadonnell_upwork_proposals.en.vtt          4841     50.27     26.92      5.6       0.54x
    smagnacca_claude_video_editing_2026.en.vtt       7647    200.12     44.14      5.8       0.22x
    webvtt-py_youtube_dl.vtt                            8      2.87      0.07      9.1       0.03x
    demo captions (115 files, total)                 5400    385.68     47.77      8.8       0.12x
    at 640,000 videos of 2062 words (the real ASR files' mean): check 2.13 CPU hours, parse 9.83 CPU hours

So the check costs about 6 us per word, a fifth of what parsing the ASR file already costs: at
640K videos about 2 CPU hours added to the asr stage's ~10, plus 0.5 s of model load per shard job
(640 jobs of 1,000 videos: 6 CPU minutes).
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from groundprobe.captions.asr import words_table
from groundprobe.captions.caption_files import read_caption_text
from groundprobe.captions.caption_words import parse_captions
from groundprobe.captions.caption_language import LanguageCheck, identifier, judge, webvtt_language

ROOT = Path(__file__).resolve().parents[1]
REAL = next(
    (
        folder / "shared" / "realdata" / "vtt"
        for folder in (ROOT.parent, ROOT.parent.parent)
        if (folder / "shared" / "realdata" / "vtt").is_dir()
    ),
    None,
)
DEMO = ROOT / "resources" / "demo_corpus" / "captions"
MANUAL = {"richardadonnell_upwork_proposals.en.vtt"}
VIDEOS = 640_000


def cpu_median(call, repeats: int) -> float:
    """Median CPU seconds of ``call()`` over ``repeats`` runs."""
    times = []
    for _ in range(repeats):
        start = time.process_time()
        call()
        times.append(time.process_time() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--files", nargs="*", type=Path, default=sorted(REAL.glob("*.vtt")) if REAL else [])
    parser.add_argument("--demo", type=Path, default=DEMO, help="a folder of demo captions ('' = none)")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    start = time.process_time()
    identifier()
    print(f"model load: {time.process_time() - start:.2f} CPU s (once per asr job)")
    check = LanguageCheck(("en",), min_confidence=0.5, min_chars=100)
    demo = sorted(args.demo.glob("*.vtt")) if args.demo and args.demo.is_dir() else []
    print(f"{'file':46s} {'words':>6s} {'parse ms':>9s} {'check ms':>9s} {'us/word':>8s} {'check/parse':>11s}")
    rows = []
    for path in args.files + demo:
        kind = "manual" if path.name in MANUAL else "auto"
        tokens = words_table(path.stem, parse_captions(path, kind))["token"].tolist()
        parse_s = cpu_median(lambda: words_table(path.stem, parse_captions(path, kind)), args.repeats)
        check_s = cpu_median(lambda: judge(tokens, webvtt_language(read_caption_text(path)), check), args.repeats)
        rows.append((path, len(tokens), parse_s, check_s))
        if path not in demo:
            print(
                f"{path.name[:46]:46s} {len(tokens):6d} {parse_s * 1e3:9.2f} {check_s * 1e3:9.2f} "
                f"{check_s / max(len(tokens), 1) * 1e6:8.1f} {check_s / parse_s:10.2f}x"
            )
    if demo:
        words, parse_s, check_s = (sum(r[i] for r in rows if r[0] in demo) for i in (1, 2, 3))
        print(
            f"{f'demo captions ({len(demo)} files, total)':46s} {words:6d} {parse_s * 1e3:9.2f} "
            f"{check_s * 1e3:9.2f} {check_s / words * 1e6:8.1f} {check_s / parse_s:10.2f}x"
        )
    real = [r for r in rows if r[0] not in demo and r[0].name not in MANUAL]
    if real:
        words = statistics.mean(r[1] for r in real)
        per_word = sum(r[3] for r in real) / sum(r[1] for r in real)
        parse_per_word = sum(r[2] for r in real) / sum(r[1] for r in real)
        print(
            f"at {VIDEOS:,} videos of {words:.0f} words (the real ASR files' mean): check "
            f"{VIDEOS * words * per_word / 3600:.2f} CPU hours, parse "
            f"{VIDEOS * words * parse_per_word / 3600:.2f} CPU hours"
        )


if __name__ == "__main__":
    main()
