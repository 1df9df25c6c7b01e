"""The caption language check (groundprobe.captions.caption_language): captions not in an accepted language
end as ``not_english`` QC rows of stage asr, whatever the file's format and source.

The foreign texts below are written for these tests (ASR-like: lower case, no punctuation); the
planted truth is the language they are written in. Real files: ../shared/realdata (skipped where
absent), whose ``Language:`` header is the truth the text detection must agree with.
"""

from pathlib import Path

import pandas as pd
import pytest
import yaml

from groundprobe.captions.asr import extract_shard_words
from groundprobe.captions.caption_language import (
    REASON_CODE,
    LanguageCheck,
    LanguageConfigError,
    check_caption_languages,
    judge,
    webvtt_language,
)

ROOT = Path(__file__).resolve().parents[2]
# ../shared beside the checkout (as tests/test_asr.py finds it), or one level up from a worktree.
REAL = next(
    (
        folder / "shared" / "realdata" / "vtt"
        for folder in (ROOT.parent, ROOT.parent.parent)
        if (folder / "shared" / "realdata" / "vtt").is_dir()
    ),
    ROOT.parent / "shared",
)
REAL_MANUAL = {"richardadonnell_upwork_proposals.en.vtt"}

TEXTS = {
    "en": "so today we are going to bake a simple loaf of bread at home all you need is flour water "
    "salt and a little yeast we mix everything in a big bowl and let the dough rest for about "
    "an hour then we shape the loaf and put it in a hot oven for forty minutes",
    "fr": "bonjour à tous aujourd'hui on va faire du pain maison c'est très simple il faut de la "
    "farine de l'eau du sel et un peu de levure on mélange tout dans un grand bol et on laisse "
    "reposer la pâte pendant une heure ensuite on façonne le pain et on le met au four chaud",
    "de": "hallo zusammen heute zeige ich euch wie man ein einfaches brot zu hause backt ihr braucht "
    "nur mehl wasser salz und ein bisschen hefe alles wird in einer großen schüssel gemischt "
    "dann lassen wir den teig eine stunde ruhen und danach kommt er in den heißen ofen",
    "ru": "всем привет сегодня я покажу вам как испечь простой хлеб дома нам понадобится только мука "
    "вода соль и немного дрожжей всё смешиваем в большой миске и оставляем тесто примерно на "
    "час потом формируем буханку и отправляем её в горячую духовку на сорок минут",
    "ja": "皆さん こんにちは 今日は 家で 簡単な パンの 作り方を 紹介します 小麦粉と 水と 塩と 少しの "
    "イーストを 用意して ください 大きな ボウルで 全部 混ぜて 生地を 一時間 ほど 休ませます "
    "そのあと 形を 整えて 熱い オーブンで 四十分 焼きます 焼き上がったら 少し 冷まして 食べます",
}


@pytest.fixture(scope="module")
def check() -> LanguageCheck:
    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    return LanguageCheck.from_config(config["download"]["caption_languages"], config["asr"]["language"])


def timestamp(seconds: float) -> str:
    return f"00:{int(seconds) // 60:02d}:{seconds % 60:06.3f}"


def vtt(text: str, header: str = "") -> str:
    """Human-caption WebVTT of ``text``, six words a 2-second cue; ``header``: its Language."""
    words = text.split()
    cues = [
        f"{timestamp(2 * i)} --> {timestamp(2 * i + 2)}\n{' '.join(words[6 * i : 6 * i + 6])}\n"
        for i in range((len(words) + 5) // 6)
    ]
    head = "WEBVTT\nKind: captions" + (f"\nLanguage: {header}" if header else "")
    return head + "\n\n" + "\n".join(cues)


def srt(text: str) -> str:
    words = text.split()
    return "\n".join(
        f"{i + 1}\n{timestamp(2 * i).replace('.', ',')} --> "
        f"{timestamp(2 * i + 2).replace('.', ',')}\n{' '.join(words[6 * i : 6 * i + 6])}\n"
        for i in range((len(words) + 5) // 6)
    )


def run_stage(files: dict[str, Path], check: LanguageCheck, kind: str = "manual"):
    """The asr stage's two steps on ``files`` (video id -> caption file): parse, then check."""
    videos = pd.DataFrame({"video_id": list(files), "captions": [str(f) for f in files.values()], "caption_kind": kind})
    words, _readings, qc = extract_shard_words(videos)
    assert qc == []
    kept, language_qc, verdicts = check_caption_languages(words, files, check)
    return words, kept, {r.video_id: r for r in language_qc}, verdicts


@pytest.mark.parametrize("language", ["fr", "de", "ru", "ja"])
@pytest.mark.parametrize("write", [vtt, srt], ids=["vtt without header", "srt"])
def test_made_up_foreign_captions_are_not_english_and_english_ones_in_the_shard_stay(tmp_path, check, language, write):
    files = {"foreign": tmp_path / f"foreign.{write.__name__}", "english": tmp_path / f"english.{write.__name__}"}
    files["foreign"].write_text(write(TEXTS[language]))
    files["english"].write_text(write(TEXTS["en"]))
    words, kept, qc, verdicts = run_stage(files, check)
    assert list(qc) == ["foreign"]
    assert qc["foreign"].stage == "asr"
    assert qc["foreign"].reason.startswith(f"{REASON_CODE}: text in '{language}' (confidence ")
    assert verdicts["foreign"].confidence > 0.9
    assert verdicts["english"].language == "en" and verdicts["english"].accepted
    # The English video's tokens pass untouched; none of the foreign video's remain.
    pd.testing.assert_frame_equal(kept, words[words["video_id"] == "english"].reset_index(drop=True))


def test_the_webvtt_language_header_decides_when_it_names_a_language_not_accepted(tmp_path, check):
    files = {"de_header": tmp_path / "a.vtt", "en_gb_header": tmp_path / "b.vtt"}
    files["de_header"].write_text(vtt(TEXTS["en"], header="de"))
    files["en_gb_header"].write_text(vtt(TEXTS["en"], header="en-GB"))  # primary subtag en
    _, _, qc, verdicts = run_stage(files, check)
    assert list(qc) == ["de_header"]
    assert qc["de_header"].reason == (
        f"{REASON_CODE}: text in 'en' (confidence {verdicts['de_header'].confidence:.2f}, "
        f"{len(TEXTS['en'].split())} words); WebVTT header Language: de; accepted: en"
    )
    assert verdicts["en_gb_header"].accepted and verdicts["en_gb_header"].header == "en-GB"


def mixed(russian: int, english: int) -> tuple[list[str], float]:
    """TEXTS["ru"] said ``russian`` times, then TEXTS["en"] ``english`` times (a video that
    switches language once), and the Russian share of the letters."""
    ru, en = TEXTS["ru"].split() * russian, TEXTS["en"].split() * english
    return ru + en, sum(map(len, ru)) / sum(map(len, ru + en))


def test_a_mixed_file_is_judged_by_the_majority_of_its_text(check):
    russian_majority, russian_share = mixed(3, 2)
    english_majority, english_share = mixed(2, 3)
    assert 0.55 < russian_share < 0.65 and 0.55 < 1 - english_share < 0.65
    verdict = judge(russian_majority, "", check)
    assert verdict.language == "ru" and not verdict.accepted
    # Confidence: the Russian share of the letters, give or take the window (100-199 letters of
    # the 1,028) that holds both languages.
    assert verdict.confidence == pytest.approx(russian_share, abs=0.1)
    verdict = judge(english_majority, "", check)
    assert verdict.language == "en" and verdict.accepted


def test_min_confidence_decides_a_file_whose_foreign_majority_is_narrow(check):
    words, _ = mixed(3, 2)
    confidence = judge(words, "", check).confidence
    lenient = LanguageCheck(check.languages, min_confidence=confidence + 0.01, min_chars=100)
    strict = LanguageCheck(check.languages, min_confidence=confidence - 0.01, min_chars=100)
    assert judge(words, "", lenient).accepted  # a foreign majority, not confident enough
    assert not judge(words, "", strict).accepted


def test_a_text_too_short_to_judge_is_kept_unless_its_header_says_otherwise(tmp_path, check):
    short = " ".join(TEXTS["fr"].split()[:8])  # 8 French words, fewer than min_chars letters
    assert sum(len(w) for w in short.split()) < check.min_chars
    files = {"no_header": tmp_path / "a.vtt", "fr_header": tmp_path / "b.vtt"}
    files["no_header"].write_text(vtt(short))
    files["fr_header"].write_text(vtt(short, header="fr"))
    _, kept, qc, verdicts = run_stage(files, check)
    assert verdicts["no_header"].accepted and verdicts["no_header"].language == ""
    assert set(kept["video_id"]) == {"no_header"}
    assert qc["fr_header"].reason.startswith(
        f"{REASON_CODE}: text too short to judge ({verdicts['fr_header'].letters} letters); WebVTT header Language: fr"
    )


def test_a_language_the_identifier_cannot_name_is_a_config_error():
    with pytest.raises(LanguageConfigError, match="caption_languages: eng unknown"):
        LanguageCheck.from_config(["en", "eng"], {"min_confidence": 0.5, "min_chars": 100})


@pytest.mark.parametrize(
    "text, expected",
    [
        ("WEBVTT\nKind: captions\nLanguage: ru\n\n00:00:01.000 --> 00:00:02.000\nda\n", "ru"),
        ("WEBVTT - title\nLanguage:  en-GB \n\n", "en-GB"),
        # After the header's blank line, "Language:" is cue text, and an SRT file has no header.
        ("WEBVTT\n\n00:00:01.000 --> 00:00:02.000\nLanguage: de\n", ""),
        ("1\n00:00:01,000 --> 00:00:02,000\nLanguage: de\n", ""),
    ],
)
def test_webvtt_language_reads_the_header_only(text, expected):
    assert webvtt_language(text) == expected


def real_files() -> list[Path]:
    if not REAL.is_dir():
        pytest.skip(f"no real caption files at {REAL}")
    return sorted(REAL.glob("*.vtt"))


def test_real_files_text_agrees_with_their_header_and_english_ones_pass(check):
    files = {path.name: path for path in real_files()}
    for kind in ("auto", "manual"):
        subset = {name: path for name, path in files.items() if (name in REAL_MANUAL) == (kind == "manual")}
        _, _, qc, verdicts = run_stage(subset, check, kind)
        for name, verdict in verdicts.items():
            header = verdict.header.split("-")[0]
            assert verdict.accepted == (header == "en"), (name, verdict)
            assert (name in qc) == (header != "en")
            if verdict.letters >= check.min_chars:  # webvtt-py's fragment holds 8 words
                assert verdict.language == header and verdict.confidence > 0.9, (name, verdict)


def test_real_russian_asr_files_are_not_english(check):
    russian = [path for path in real_files() if webvtt_language(path.read_text()) == "ru"]
    if not russian:
        pytest.skip(f"no real Russian caption files at {REAL}")
    _, kept, qc, verdicts = run_stage({path.name: path for path in russian}, check, "auto")
    assert kept.empty and set(qc) == {path.name for path in russian}
    assert all(v.language == "ru" and v.confidence > 0.9 for v in verdicts.values())
