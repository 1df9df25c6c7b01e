import html
import re
import subprocess
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest

from groundprobe.captions.asr import (
    build_vocabulary,
    count_tokens,
    extract_shard_words,
    tokenize,
    vocabulary_ids,
    words_table,
)
from groundprobe.captions.caption_files import CaptionError
from groundprobe.captions.caption_words import Word, parse_auto_captions, parse_captions, parse_manual_captions

FIXTURES = Path(__file__).parents[1] / "fixtures" / "vtt"
SRT_FIXTURES = Path(__file__).parents[1] / "fixtures" / "srt"
REAL = Path(__file__).parents[3] / "shared" / "realdata" / "vtt"
REAL_AUTO = [
    "webvtt-py_youtube_dl.vtt",
    "ethansk_fortnite_2018.en.vtt",
    "qkeluna_song_2025.en.vtt",
    "smagnacca_claude_video_editing_2026.en.vtt",
]
REAL_MANUAL = "richardadonnell_upwork_proposals.en.vtt"


def assert_words(words, expected):
    """Each expected (text, start, end) emitted exactly once, in order, to the millisecond."""
    assert [w.text for w in words] == [text for text, _, _ in expected]
    for word, (text, start, end) in zip(words, expected):
        assert word.start_s == pytest.approx(start, abs=1e-3), text
        assert word.end_s == pytest.approx(end, abs=1e-3), text


# Expected words below are read off the fixture files by hand: the first word of a new line starts
# at the cue start, later words at the tag before them; repeated and 10 ms cues add nothing.


def test_2017_fragment_starts_mid_video_and_skips_a_plain_repeat():
    assert_words(
        parse_auto_captions(FIXTURES / "fragment_2017.vtt"),
        [
            ("okay", 602.5, 603.1),  # a cue without tags: its only word spans the cue
            ("so", 603.1, 605.0),  # "okay" repeated above it, "so" new and untagged
            ("first", 605.0, 605.24),
            ("we", 605.24, 605.51),
            ("whisk", 605.51, 605.8),
            ("the", 605.8, 605.99),
            ("eggs", 605.99, 606.2),
            # 00:10:06.200 repeats "first we whisk the eggs" for 700 ms (not 10 ms): nothing new
            ("then", 606.9, 607.3),
            ("fold", 607.3, 607.65),
            ("gently", 607.65, 608.0),
        ],
    )


def test_2018_rolling_cues_with_style_block_and_colour_classes():
    assert_words(
        parse_auto_captions(FIXTURES / "rolling_2018.en.vtt"),
        [
            ("my", 1.0, 1.4),
            ("dog", 1.4, 1.9),
            ("loves", 1.9, 2.3),
            ("the", 2.3, 2.6),
            ("well-known", 2.6, 3.1),
            ("park", 3.1, 3.5),
            ("he", 3.51, 3.9),
            ("runs", 3.9, 4.4),
            ("fast", 4.4, 5.0),
            ("woof", 5.01, 6.0),  # a new one-word line has no tag
            # [Music] (6.01-20.0) is no speech; a blank 10 ms cue clears the screen
            ("good", 20.01, 20.5),
            ("boy", 20.5, 22.0),
        ],
    )


def test_2026_frozen_cues_punctuation_and_a_genuinely_repeated_line():
    assert_words(
        parse_auto_captions(FIXTURES / "frozen_2026.en.vtt"),
        [
            ("So", 0.24, 0.4),
            ("now", 0.4, 0.56),  # two words before the first tag share its span
            ("everyone!", 0.56, 1.12),
            ("Today", 1.12, 1.44),
            ("we're", 1.44, 1.7),
            ("baking", 1.7, 2.15),
            ("bread,", 2.16, 2.64),
            ("step", 2.64, 2.88),
            ("by", 2.88, 3.04),
            ("step.", 3.04, 3.6),
            ("Ready?", 3.6, 4.39),
            ("Ready.", 4.4, 5.0),
            ("Ready.", 5.01, 5.6),  # said again: second line of "Ready.\nReady."
            ("Salt", 5.61, 5.8),  # ">>" speaker mark and "&" are not words
            ("flour", 6.1, 6.4),
            ("first.", 6.4, 7.0),
            ("Mix", 7.01, 7.41),
            ("it", 7.41, 7.81),
            ("well", 7.81, 8.21),  # untagged: spread evenly
        ],
    )


def test_manual_captions_spread_words_and_drop_dashes_and_sound_descriptions():
    third = 2.0 / 6
    assert_words(
        parse_manual_captions(FIXTURES / "manual.en.vtt"),
        [
            # (upbeat music) 0-2 s is no speech; 6 words over 2.5-4.5 s, the "- " dashes dropped
            ("Hi,", 2.5, 2.5 + third),
            ("I'm", 2.5 + third, 2.5 + 2 * third),
            ("Ana.", 2.5 + 2 * third, 3.5),
            ("And", 3.5, 3.5 + third),
            ("I'm", 3.5 + third, 3.5 + 2 * third),
            ("Bo!", 3.5 + 2 * third, 4.5),
            ("Thanks,", 4.5, 5.25),
            ("everyone.", 5.25, 6.0),  # [Applause] dropped
            ("We'll", 6.0, 6.6),
            ("cook", 6.6, 7.2),
            ("a", 7.2, 7.8),  # "(softly\nlaughing)" dropped
            ("well-known", 7.8, 8.4),
            ("dish.", 8.4, 9.0),
        ],
    )


def test_parse_captions_dispatches_on_kind():
    assert parse_captions(FIXTURES / "manual.en.vtt", "manual") == parse_manual_captions(FIXTURES / "manual.en.vtt")
    assert parse_captions(FIXTURES / "rolling_2018.en.vtt", "auto")[0] == Word("my", 1.0, 1.4)
    with pytest.raises(ValueError, match="caption kind"):
        parse_captions(FIXTURES / "manual.en.vtt", "human")


@pytest.mark.parametrize(
    "content",
    [
        b"this is not a caption file\n",
        b"WEBVTT\n\n00:00:02.000 --> 00:00:01.000\nbackwards\n",
        b"WEBVTT\n\n00:00:01.000 --> 00:00:02.000\n\xff\xfe broken utf-8\n",
        b"WEBVTT\n\n00:00:01.000 --> 00:00:02.000\nbad<00:00:71.000><c> tag</c>\n",
    ],
)
def test_invalid_files_raise_caption_error_naming_the_file(tmp_path, content):
    path = tmp_path / "bad_video.en.vtt"
    path.write_bytes(content)
    with pytest.raises(CaptionError, match="bad_video.en.vtt"):
        parse_captions(path, "auto")
    with pytest.raises(CaptionError, match="missing.vtt"):
        parse_captions(tmp_path / "missing.vtt", "manual")


# SRT. Expected words are again computed by hand from the fixture files.


def to_srt(vtt: Path, tmp_path: Path) -> Path:
    """``vtt`` converted to SRT by the ffmpeg CLI, as ``yt-dlp --convert-subs srt`` does."""
    srt = tmp_path / (vtt.stem + ".srt")
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(vtt), str(srt)], check=True)
    return srt


def longest_cue_s(vtt: Path) -> float:
    """Length of the longest cue of a WebVTT file in seconds, read with a regular expression."""
    stamp = r"(\d\d):(\d\d):(\d\d)\.(\d{3})"

    def seconds(h: str, m: str, s: str, ms: str) -> float:
        return int(h) * 3600 + int(m) * 60 + int(s) + int(ms) / 1000

    cues = re.findall(rf"{stamp} --> {stamp}", vtt.read_text(encoding="utf-8"))
    return max(seconds(*cue[4:]) - seconds(*cue[:4]) for cue in cues)


MANUAL_SRT_WORDS = [
    # <i>(upbeat music)</i> 0-2 s is no speech; 6 words over 2.5-4.5 s: {\an8}, <b> and dashes gone
    ("Hi,", 2.5, 2.5 + 1 / 3),
    ("I'm", 2.5 + 1 / 3, 2.5 + 2 / 3),
    ("Ana.", 2.5 + 2 / 3, 3.5),
    ("And", 3.5, 3.5 + 1 / 3),
    ("I'm", 3.5 + 1 / 3, 3.5 + 2 / 3),
    ("Bo!", 3.5 + 2 / 3, 4.5),
    # cue 3 (4.5-4.9 s) is blank; <font color> removed
    ("Thanks,", 5.0, 5.5),
    ("everyone.", 5.5, 6.0),
    # cue numbered 7 after 4: numbers are not words and need not be consecutive; 5 words over 3 s
    ("We'll", 6.0, 6.6),
    ("cook", 6.6, 7.2),
    ("two", 7.2, 7.8),
    ("dishes", 7.8, 8.4),
    ("today.", 8.4, 9.0),
    ("1999", 9.0, 9.6),  # a text line of digits is a word, not a cue number; dot ms
]


def test_manual_srt_spreads_words_and_drops_tags_position_codes_and_cue_numbers():
    assert_words(parse_captions(SRT_FIXTURES / "manual.en.srt", "manual"), MANUAL_SRT_WORDS)


def test_automatic_srt_emits_each_line_once_spread_over_its_cue():
    # yt-dlp's SRT of YouTube captions: no word tags, rolling cues, 10 ms cues, a blank line
    # opening a cue; each new line's words share that cue evenly.
    assert_words(
        parse_captions(SRT_FIXTURES / "rolling_auto.en.srt", "auto"),
        [
            ("first", 0.32, 0.836),
            ("we", 0.836, 1.352),
            ("chop", 1.352, 1.868),
            ("the", 1.868, 2.384),
            ("onions", 2.384, 2.9),
            ("then", 2.91, 2.91 + 2.29 / 3),
            ("the", 2.91 + 2.29 / 3, 2.91 + 2 * 2.29 / 3),
            ("garlic", 2.91 + 2 * 2.29 / 3, 5.2),
            # [Music] is no speech; the blank cue at 6.0 s has no words
            ("okay", 6.01, 7.51),
            ("okay", 7.52, 7.52 + 1.28 / 3),  # "okay" shown again on top, "okay stir it" is new
            ("stir", 7.52 + 1.28 / 3, 7.52 + 2 * 1.28 / 3),
            ("it", 7.52 + 2 * 1.28 / 3, 8.8),
        ],
    )


@pytest.mark.parametrize(
    "variant",
    ["utf-8 bom", "crlf", "bom and crlf", "cr", "utf-16", "named .vtt", "no extension", "leading blank lines"],
)
def test_srt_encoding_line_endings_and_file_name_do_not_change_the_words(tmp_path, variant):
    text = (SRT_FIXTURES / "manual.en.srt").read_text(encoding="utf-8")
    name, encoding = "captions.srt", "utf-8"
    if "bom" in variant:
        text = "\ufeff" + text
    if "crlf" in variant:
        text = text.replace("\n", "\r\n")
    if variant == "cr":
        text = text.replace("\n", "\r")
    if variant == "utf-16":
        encoding = "utf-16"  # writes a byte-order mark
    if variant == "named .vtt":
        name = "captions.en.vtt"  # the content decides, not the extension
    if variant == "no extension":
        name = "captions"
    if variant == "leading blank lines":
        text = "\n\n" + text
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    assert_words(parse_captions(path, "manual"), MANUAL_SRT_WORDS)


def test_webvtt_content_is_read_as_webvtt_whatever_the_file_name(tmp_path):
    path = tmp_path / "captions.srt"
    path.write_bytes((FIXTURES / "rolling_2018.en.vtt").read_bytes())
    assert parse_captions(path, "auto") == parse_auto_captions(FIXTURES / "rolling_2018.en.vtt")


@pytest.mark.parametrize("name", ["rolling_2018.en.vtt", "frozen_2026.en.vtt"])
def test_automatic_vtt_converted_to_srt_gives_the_same_words(tmp_path, name):
    vtt_words = parse_captions(FIXTURES / name, "auto")
    srt_words = parse_captions(to_srt(FIXTURES / name, tmp_path), "auto")
    assert [w.text for w in srt_words] == [w.text for w in vtt_words]
    # SRT has no word-time tags: a line's words share its cue evenly instead of starting at their
    # tags. Both start inside the cue that shows the line, so a word moves by less than the longest
    # cue of the file (about one caption line: 2-3 s of speech).
    tolerance_s = longest_cue_s(FIXTURES / name)
    for srt_word, vtt_word in zip(srt_words, vtt_words):
        assert abs(srt_word.start_s - vtt_word.start_s) < tolerance_s, srt_word
    starts = [w.start_s for w in srt_words]
    assert starts == sorted(starts)


@pytest.mark.parametrize(
    "content, why",
    [
        (b"", "empty file"),
        (b" \n\r\n", "empty file"),
        (b"<html><body>404 Not Found</body></html>\n", "not valid SRT"),
        (b"1\n00:00:01,000 -> 00:00:02,000\narrow\n", "unreadable SRT cue timing"),
        (b"1\n00:00:01,000 --> 00:00:0\ntruncated\n", "unreadable SRT cue timing"),
        # what ffmpeg writes for a 2017 YouTube VTT cue that lacks its blank line: its timing as text
        (
            b"1\n00:00:01,000 --> 00:00:02,000\nokay\n00:00:02.000 -- 00:00:03.000 align:start\nso\n",
            "unreadable SRT cue timing",
        ),
        (b"1\n00:00:01,000 --> 00:00:02,000\nok\n\n00:00:03,000 --> 00:00:04,000\nno number\n", "without a cue number"),
        (b"1\n00:00:02,000 --> 00:00:01,000\nbackwards\n", "ends before it starts"),
        (b"1\n00:00:01,000 --> 00:00:02,000\n\xe9t\xe9 in latin-1\n", "UnicodeDecodeError"),
    ],
)
def test_malformed_srt_raises_caption_error_naming_the_file(tmp_path, content, why):
    path = tmp_path / "bad_video.en.srt"
    path.write_bytes(content)
    for kind in ("auto", "manual"):
        with pytest.raises(CaptionError, match=f"bad_video.en.srt.*{why}"):
            parse_captions(path, kind)


def test_extract_shard_words_reads_srt_and_sends_a_malformed_srt_to_qc(tmp_path):
    bad = tmp_path / "bad.srt"
    bad.write_text("1\n00:00:01,000 -> 00:00:02,000\nhello\n")
    videos = pd.DataFrame(
        {
            "video_id": ["manual_srt", "auto_srt", "bad_srt"],
            "captions": [str(SRT_FIXTURES / "manual.en.srt"), str(SRT_FIXTURES / "rolling_auto.en.srt"), str(bad)],
            "caption_kind": ["manual", "auto", "auto"],
        }
    )
    words, readings, qc = extract_shard_words(videos)
    assert [(r.video_id, r.stage) for r in qc] == [("bad_srt", "asr")]
    assert qc[0].reason.startswith("caption file unreadable:") and "bad.srt" in qc[0].reason
    counts = words.groupby("video_id", sort=False).size().to_dict()
    assert counts == {"manual_srt": 14, "auto_srt": 12}


# Real files: properties checked against an independent reading made with regular expressions here.

TIME_TAG = re.compile(r"<\d{2}:\d{2}:\d{2}\.\d{3}>")
ANY_TAG = re.compile(r"<[^>]+>")
# What must not survive in a word: a tag or a piece of one, an HTML entity, a sound description.
MARKUP = re.compile(r"[<>\[\]]|&#?\w+;")


def is_speech(word: str) -> bool:
    return re.search(r"[A-Za-z0-9]", word) is not None and not re.fullmatch(r"\[.*\]", word)


def shown(line: str) -> str:
    return " ".join(html.unescape(ANY_TAG.sub("", line)).split())


def auto_words(text: str) -> list[str]:
    """Spoken words in order: every word of a line with time tags; an untagged line's words
    unless the previous cue showed that line."""
    previous, words = set(), []
    for block in re.split(r"\n(?=\d\d:\d\d:\d\d\.\d{3} --> )", text)[1:]:
        lines = [line for line in block.split("\n")[1:] if shown(line)]
        texts = [shown(line) for line in lines]
        for raw, plain in zip(lines, texts):
            if TIME_TAG.search(raw):
                words += [w for piece in TIME_TAG.split(raw) for w in shown(piece).split() if is_speech(w)]
            elif plain not in previous:
                words += [w for w in plain.split() if is_speech(w)]
        previous = set(texts)
    return words


def assert_each_word_once_in_time_order(words: list[Word]) -> None:
    starts = [w.start_s for w in words]
    assert starts == sorted(starts)
    assert all(w.start_s <= w.end_s for w in words)
    assert all(w.end_s <= nxt.start_s + 1e-9 for w, nxt in zip(words, words[1:]))
    pairs = [(w.text, w.start_s) for w in words]
    assert len(set(pairs)) == len(pairs)
    assert not [w.text for w in words if MARKUP.search(w.text)]


def real(name: str) -> Path:
    path = REAL / name
    if not path.exists():
        pytest.skip(f"real caption files not present ({REAL})")
    return path


@pytest.mark.parametrize("name", REAL_AUTO)
def test_real_automatic_captions_emit_each_word_once(name):
    path = real(name)
    words = parse_auto_captions(path)
    assert [w.text for w in words] == auto_words(path.read_text(encoding="utf-8"))
    assert_each_word_once_in_time_order(words)


# The 2017 fragment is left out: its cue without a blank line before it comes out of ffmpeg as
# text (see test_malformed_srt_raises_caption_error_naming_the_file).
@pytest.mark.parametrize("name, kind", [(name, "auto") for name in REAL_AUTO[1:]] + [(REAL_MANUAL, "manual")])
def test_real_captions_converted_to_srt_give_the_same_words(tmp_path, name, kind):
    path = real(name)
    srt_words = parse_captions(to_srt(path, tmp_path), kind)
    assert [w.text for w in srt_words] == [w.text for w in parse_captions(path, kind)]
    assert_each_word_once_in_time_order(srt_words)


def test_real_2026_file_first_words_and_times():
    words = parse_auto_captions(real("smagnacca_claude_video_editing_2026.en.vtt"))
    assert [tokenize(w.text)[0] for w in words[:5]] == ["today", "i'm", "going", "to", "show"]
    # "show" is tagged <00:00:00.719>
    assert [w.start_s for w in words[:5]] == pytest.approx([0.16, 0.4, 0.56, 0.64, 0.719], abs=1e-3)


def test_real_2017_fragment_words_and_times():
    words = parse_auto_captions(real("webvtt-py_youtube_dl.vtt"))
    assert [w.text for w in words] == ["yeah", "what", "this", "will", "happen", "is", "I'm", "telling"]
    assert [w.start_s for w in words] == pytest.approx(
        [286.07, 286.47, 304.08, 304.199, 304.379, 304.62, 304.86, 305.069], abs=1e-3
    )


def test_real_manual_captions_stay_within_their_cues():
    path = real(REAL_MANUAL)
    words = parse_manual_captions(path)
    text = path.read_text(encoding="utf-8")
    stamp = r"(\d\d):(\d\d):(\d\d)\.(\d{3})"
    cues = re.findall(rf"{stamp} --> {stamp}\n(.*?)(?:\n\n|\Z)", text, flags=re.S)
    expected, bounds = 0, []
    for *stamp, body in cues:
        h1, m1, s1, ms1, h2, m2, s2, ms2 = map(int, stamp)
        start, end = h1 * 3600 + m1 * 60 + s1 + ms1 / 1000, h2 * 3600 + m2 * 60 + s2 + ms2 / 1000
        spoken = [w for w in re.sub(r"\([^)]*\)|\[[^\]]*\]", " ", body).split() if is_speech(w)]
        expected += len(spoken)
        bounds += [(start, end)] * len(spoken)
    assert len(words) == expected
    for word, (start, end) in zip(words, bounds):
        assert start - 1e-9 <= word.start_s <= word.end_s <= end + 1e-9
    tokens = [t for w in words for t in tokenize(w.text)]
    assert "upbeat" not in tokens and "-" not in tokens
    assert tokens[:4] == ["hi", "everyone", "danny", "here"]


@pytest.mark.parametrize(
    "text, tokens",
    [
        ("Don't", ["don't"]),
        ("well-known", ["well", "known"]),
        ("Hello, WORLD!", ["hello", "world"]),
        ("[Music]", []),
        ("[Applause] thanks", ["thanks"]),
        ("rock\u2019n\u2019roll", ["rock'n'roll"]),
        ("'cause we're", ["cause", "we're"]),
        ("lesson 5.1.", ["lesson", "5", "1"]),
        ("Café au lait", ["café", "au", "lait"]),
        ("& -- >>", []),
        ("snake_case", ["snake", "case"]),
    ],
)
def test_tokenize(text, tokens):
    assert tokenize(text) == tokens


def test_words_table_gives_every_token_its_words_times_in_ms():
    table = words_table(
        "vid", [Word("Well-known", 1.23456, 2.0004), Word("[Music]", 2.5, 3.0), Word("cats.", 3.0, 3.5)]
    )
    assert list(table.columns) == ["video_id", "token", "start_s", "end_s"]
    assert table.values.tolist() == [
        ["vid", "well", 1.235, 2.0],
        ["vid", "known", 1.235, 2.0],
        ["vid", "cats", 3.0, 3.5],
    ]


def test_extract_shard_words_tables_and_qc(tmp_path):
    garbage = tmp_path / "garbage.vtt"
    garbage.write_text("no header here\n")
    videos = pd.DataFrame(
        {
            "video_id": ["manual", "missing", "music", "rolling", "nocaptions", "garbage"],
            "captions": [
                str(FIXTURES / "manual.en.vtt"),
                str(tmp_path / "gone.vtt"),
                str(FIXTURES / "music_only.en.vtt"),
                str(FIXTURES / "rolling_2018.en.vtt"),
                "",
                str(garbage),
            ],
            "caption_kind": ["manual", "auto", "auto", "auto", "auto", "auto"],
        }
    )
    words, readings, qc = extract_shard_words(videos)
    reasons = {r.video_id: r.reason for r in qc}
    assert {r.stage for r in qc} == {"asr"}
    assert set(reasons) == {"missing", "music", "nocaptions", "garbage"}
    assert reasons["music"] == "no words in captions"
    assert reasons["missing"].startswith("caption file unreadable:") and "gone.vtt" in reasons["missing"]
    assert reasons["garbage"].startswith("caption file unreadable:")
    assert "garbage.vtt" in reasons["garbage"]
    assert reasons["nocaptions"].startswith("caption file unreadable:")
    # one reading per file read, words or not; the unreadable ones have none
    assert readings.values.tolist() == [
        ["manual", "WebVTT", "manual", "manual"],
        ["music", "WebVTT", "auto", "auto"],
        ["rolling", "WebVTT", "auto", "auto"],
    ]
    # Input order of videos, then time; hand-counted tokens: 14 manual, 13 rolling (well-known = 2).
    assert words["video_id"].tolist() == ["manual"] * 14 + ["rolling"] * 13
    assert words["token"].tolist()[14:] == [
        "my",
        "dog",
        "loves",
        "the",
        "well",
        "known",
        "park",
        "he",
        "runs",
        "fast",
        "woof",
        "good",
        "boy",
    ]
    assert words["token"].tolist()[:3] == ["hi", "i'm", "ana"]
    for _, video in words.groupby("video_id"):
        assert video["start_s"].is_monotonic_increasing


def test_extract_shard_words_of_only_failures_is_an_empty_table(tmp_path):
    videos = pd.DataFrame(
        {"video_id": ["a"], "captions": [str(FIXTURES / "music_only.en.vtt")], "caption_kind": ["auto"]}
    )
    words, readings, qc = extract_shard_words(videos)
    assert words.empty and list(words.columns) == ["video_id", "token", "start_s", "end_s"]
    assert [(r.video_id, r.reason) for r in qc] == [("a", "no words in captions")]


def test_count_tokens_matches_a_counter():
    tokens = ["the", "cat", "the", "dog", "the", "cat", "emu"]
    words = pd.DataFrame({"video_id": "v", "token": tokens, "start_s": 0.0, "end_s": 1.0})
    assert count_tokens(words).to_dict() == dict(Counter(tokens))


def test_vocabulary_min_count_max_size_and_tie_order():
    counts = pd.Series({"the": 5, "dog": 3, "cat": 3, "ant": 3, "emu": 1, "fox": 2})
    vocab = build_vocabulary(counts, min_count=2, max_size=4)
    assert list(vocab.columns) == ["token", "count"]
    assert vocab.values.tolist() == [["the", 5], ["ant", 3], ["cat", 3], ["dog", 3]]
    everything = build_vocabulary(counts, min_count=1, max_size=100)
    assert everything["token"].tolist() == ["the", "ant", "cat", "dog", "fox", "emu"]
    assert build_vocabulary(counts, min_count=6, max_size=100).empty


def test_vocabulary_ids_are_row_index_plus_one():
    vocab = build_vocabulary(pd.Series({"the": 5, "cat": 3, "dog": 2}), min_count=1, max_size=10)
    assert vocabulary_ids(vocab) == {"the": 1, "cat": 2, "dog": 3}
