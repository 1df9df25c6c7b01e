"""What the demo corpus writes about its videos: the sources table of a corpus and
``planted_truth.json``, the structure the corpus plants, which the tests and rule demo_recovery check.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from groundprobe.demo.crosstask_set import CrossTaskVideo, crosstask_truth
from groundprobe.demo.narration import FILLER_WORDS, INTRO_PHRASES, NEVER_GROUNDED_WORDS, OUTRO_PHRASES
from groundprobe.demo.photos import INSTRUCTIONAL_OBJECTS, OBJECTS, TARGET_OBJECTS
from groundprobe.demo.plans import BAD_INPUT_QC_STAGES, VideoPlan
from groundprobe.ingest.manifest import SOURCE_COLUMNS, verticals_of
from groundprobe.settings import DemoCorpusSettings


def sources_table(
    plans: list[VideoPlan], out_dir: Path, vocabulary: pd.DataFrame, labelled: bool = True, captioned: bool = True
) -> pd.DataFrame:
    """The sources table (manifest.SOURCE_COLUMNS) of the corpus; paths as ``out_dir`` is given.
    ``labelled``: write the instructional labels (the target corpus has none: empty cells);
    ``captioned``: name the caption files (the CrossTask task set has none: empty cells)."""
    vertical_by_label = dict(zip(vocabulary["Name"], vocabulary["Vertical1"]))
    rows = []
    for plan in plans:
        labels = ";".join(plan.labels)
        rows.append(
            {
                "video_id": plan.video_id,
                "source": str(out_dir / "videos" / f"{plan.video_id}.mp4"),
                "source_type": "local",
                "captions": str(out_dir / "captions" / f"{plan.video_id}.en.vtt") if captioned else "",
                "caption_kind": "auto",
                "title": plan.title,
                "labels": labels,
                "verticals": verticals_of(labels, vertical_by_label),
                "split": plan.split,
                "instructional": plan.instructional if labelled else "",
            }
        )
    return pd.DataFrame(rows, columns=SOURCE_COLUMNS)


def planted_truth(
    settings: DemoCorpusSettings,
    plans: list[VideoPlan],
    target_plans: list[VideoPlan],
    vocabulary: pd.DataFrame,
    crosstask: list[CrossTaskVideo] = (),
    instructional: list[VideoPlan] = (),
) -> dict:
    """What the corpus plants: rates, length effects, verticals and videos per category; objects,
    which of them instructional videos show, intro/outro talk, always- and never-grounded words,
    bad inputs; the target domain (its objects, the target corpus's videos and the source's
    in-domain videos); per video (source and target) its instructional label, whether it is
    in-domain, scenes and words (token, start_s, end_s, named object or null, part of the
    narration); the CrossTask task set when there is one (:func:`crosstask_truth`); the
    instructional corpus's video ids and rate when there is one."""
    vertical_by_label = dict(zip(vocabulary["Name"], vocabulary["Vertical1"]))
    normal = [p for p in plans if not p.bad_input]
    target_ids = {p.video_id for p in target_plans}
    return {
        "seed": settings.seed,
        "categories": {
            c.label: {
                "rate": float(c.rate),
                "length_effect": c.length_effect,
                "vertical": verticals_of(c.label, vertical_by_label),
                "video_ids": [p.video_id for p in normal if p.category == c.label],
            }
            for c in settings.categories
        },
        "objects": list(OBJECTS),
        "instructional_objects": list(INSTRUCTIONAL_OBJECTS),
        "intro_phrases": [list(t) for t in INTRO_PHRASES],
        "outro_phrases": [list(t) for t in OUTRO_PHRASES],
        "always_grounded_words": sorted(OBJECTS),
        "never_grounded_words": list(NEVER_GROUNDED_WORDS),
        "filler_words": len(FILLER_WORDS),
        "bad_inputs": {
            p.bad_input: {"video_id": p.video_id, "qc_stage": BAD_INPUT_QC_STAGES[p.bad_input]}
            for p in plans
            if p.bad_input
        },
        "target_domain": {
            "objects": list(TARGET_OBJECTS),
            **settings.target_domain.to_config(),
            "target_video_ids": [p.video_id for p in target_plans],
            "source_in_domain_ids": [p.video_id for p in plans if p.in_domain],
        },
        "videos": {
            p.video_id: {
                "category": p.category,
                "rate": p.rate,
                "duration_s": p.duration_s,
                "instructional": p.instructional,
                "in_domain": p.in_domain,
                "corpus": "target" if p.video_id in target_ids else "source",
                "phrases": len(p.phrases),
                "named_phrases": sum(ph.named_object is not None for ph in p.phrases),
                "scenes": [[s.obj, s.start_s, s.end_s] for s in p.scenes],
                "words": [[w.token, w.start_s, w.end_s, w.names, ph.part] for ph in p.phrases for w in ph.words],
            }
            for p in plans + target_plans
        },
        **({"crosstask": crosstask_truth(crosstask)} if crosstask else {}),
        **(
            {
                "instructional_corpus": {
                    **settings.instructional_corpus.to_config(),
                    "video_ids": [p.video_id for p in instructional],
                }
            }
            if instructional
            else {}
        ),
    }
