"""Strict caption reading: every damaged cue is an error naming the file and the line, rolling ASR
labelled 'manual' is read as ASR, and caption formats that are not read are named.

The damaged files are made up here, each with one planted damage at a known line; the expected
reasons are written out in full.
"""

import io
import subprocess
from pathlib import Path

import pandas as pd
import pytest
import webvtt

from groundprobe.captions.asr import extract_shard_words, tokenize
from groundprobe.captions.caption_files import CaptionError
from groundprobe.captions.caption_words import parse_auto_captions, parse_manual_captions, read_captions

FIXTURES = Path(__file__).parents[1] / "fixtures" / "vtt"
SRT_FIXTURES = Path(__file__).parents[1] / "fixtures" / "srt"
REAL = Path(__file__).parents[3] / "shared" / "realdata" / "vtt"

# Line 7 is the planted timing line; the cues before and after it are sound.
VTT_TEMPLATE = (
    "WEBVTT\nKind: captions\n\n00:00:01.000 --> 00:00:02.000\none\n\n{}\ntwo\n\n00:00:05.000 --> 00:00:06.000\nthree\n"
)


def write(tmp_path: Path, content: str | bytes, name: str = "video.en.vtt") -> Path:
    path = tmp_path / name
    path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    return path


# What webvtt-py alone makes of each: it drops the cue ("two" is lost) or misreads its end.
DROPPED = ["one", "three"]


@pytest.mark.parametrize(
    "timing, problem, lenient",
    [
        ("00:00:03,000 --> 00:00:04,000", "start time '00:00:03,000' is not hh:mm:ss.ttt", DROPPED),
        ("00:00:03.000 -> 00:00:04.000", "no '-->' between start and end", DROPPED),
        ("00:00:03.000 -->", "no end time", DROPPED),
        ("00:00:03.000 --> align:start", "end time 'align:start' is not hh:mm:ss.ttt", DROPPED),
        ("00:99:03.000 --> 00:99:04.000", "start time has minutes 99 (at most 59)", DROPPED),
        ("00:00:03.000 --> 00:00:61.000", "end time has seconds 61 (at most 59)", DROPPED),
        # read by webvtt-py, but as ending at 00:00:04.000
        ("00:00:03.000 --> 00:00:04.0001", "end time '00:00:04.0001' is not hh:mm:ss.ttt", ["one", "two", "three"]),
    ],
)
def test_damaged_webvtt_timing_is_an_error_naming_the_line(tmp_path, timing, problem, lenient):
    path = write(tmp_path, VTT_TEMPLATE.format(timing))
    read = webvtt.from_buffer(io.StringIO(VTT_TEMPLATE.format(timing)), format="vtt").captions
    assert [caption.text for caption in read] == lenient
    for kind in ("auto", "manual"):
        with pytest.raises(CaptionError) as error:
            read_captions(path, kind)
        assert str(error.value) == (f"{path}: line 7: unreadable WebVTT cue timing {timing!r}: {problem}")


@pytest.mark.parametrize(
    "timing, reason",
    [
        (
            "00:00:00.500 --> 00:00:04.000",
            "line 7: cue out of order: it starts at 0.500 s, before the cue of line 4 (1.000 s)",
        ),
        ("00:00:04.000 --> 00:00:03.000", "line 7: cue '00:00:04.000 --> 00:00:03.000' ends before it starts"),
    ],
)
def test_webvtt_cues_out_of_order_or_backwards_are_errors_naming_the_line(tmp_path, timing, reason):
    path = write(tmp_path, VTT_TEMPLATE.format(timing))
    with pytest.raises(CaptionError) as error:
        read_captions(path, "auto")
    assert str(error.value) == f"{path}: {reason}"


def test_webvtt_text_outside_any_cue_is_an_error_naming_the_line(tmp_path):
    # the timing line of the second cue is lost: webvtt-py skips the block, words and all
    content = (
        "WEBVTT\n\n00:00:01.000 --> 00:00:02.000\none\n\nlost words here\n\n00:00:05.000 --> 00:00:06.000\nthree\n"
    )
    lenient = webvtt.from_buffer(io.StringIO(content), format="vtt")
    assert [caption.text for caption in lenient.captions] == ["one", "three"]
    path = write(tmp_path, content)
    with pytest.raises(CaptionError) as error:
        read_captions(path, "manual")
    assert str(error.value) == f"{path}: line 6: text outside any cue (a block without a timing line)"


@pytest.mark.parametrize(
    "content, reason",
    [
        # Latin-1 "été" on line 7 (byte 73): 0xe9 cannot start a UTF-8 sequence there
        (
            "WEBVTT\n\n00:00:01.000 --> 00:00:02.000\none\n\n00:00:03.000 --> 00:00:04.000\n".encode() + b"\xe9t\xe9\n",
            "line 7: not UTF-8 (UnicodeDecodeError: invalid continuation byte at byte 73); captions "
            "must be UTF-8, or UTF-16 with a byte-order mark",
        ),
        # UTF-16 without a byte-order mark: a NUL after "W" on line 1
        (
            VTT_TEMPLATE.format("00:00:03.000 --> 00:00:04.000").encode("utf-16-le"),
            "line 1: NUL character (UTF-16 without a byte-order mark?); captions must be UTF-8, or "
            "UTF-16 with a byte-order mark",
        ),
    ],
)
def test_undecodable_bytes_are_errors_naming_the_line(tmp_path, content, reason):
    for name in ("video.en.vtt", "video.en.srt"):
        path = write(tmp_path, content, name)
        with pytest.raises(CaptionError) as error:
            read_captions(path, "auto")
        assert str(error.value) == f"{path}: {reason}"


@pytest.mark.parametrize(
    "content, reason",
    [
        (
            "1\n00:00:01,000 --> 00:00:02,000\none\n\n2\n00:00:00,500 --> 00:00:03,000\ntwo\n",
            "line 6: cue out of order: it starts at 0.500 s, before the cue of line 2 (1.000 s)",
        ),
        # webvtt-py reads ",5" as 5 ms, not 500 ms
        (
            "1\n00:00:01,5 --> 00:00:02,000\none\n",
            "line 2: unreadable SRT cue timing '00:00:01,5 --> 00:00:02,000': start time '00:00:01,5' "
            "is not hh:mm:ss,mmm",
        ),
        (
            "1\n00:00:01,000 --> 00:00:02,000\none\n\n2\n00:00:03,000 -> 00:00:04,000\ntwo\n",
            "line 6: unreadable SRT cue timing '00:00:03,000 -> 00:00:04,000': no '-->' between start and end",
        ),
    ],
)
def test_srt_damage_is_an_error_naming_the_line_as_in_webvtt(tmp_path, content, reason):
    path = write(tmp_path, content, "video.en.srt")
    with pytest.raises(CaptionError) as error:
        read_captions(path, "manual")
    assert str(error.value) == f"{path}: {reason}"


def test_sound_webvtt_variants_are_read_exactly(tmp_path):
    # mm:ss.ttt without hours, a one-digit fraction (500 ms), a cue identifier, a NOTE block, a
    # cue without the blank line before it (YouTube 2017), a line of spaces inside a cue
    path = write(
        tmp_path,
        "WEBVTT\n\nNOTE made up\n\nintro\n00:01.000 --> 00:02.5 align:start\n"
        "one\n00:00:03.000 --> 00:00:04.000\n \ntwo\n",
    )
    words = read_captions(path, "manual").words
    assert [(w.text, w.start_s, w.end_s) for w in words] == [("one", 1.0, 2.5), ("two", 3.0, 4.0)]


def test_a_damaged_file_is_a_qc_row_with_file_line_and_cause(tmp_path):
    bad = write(tmp_path, VTT_TEMPLATE.format("00:00:03.000 -> 00:00:04.000"))
    videos = pd.DataFrame(
        {
            "video_id": ["good", "bad"],
            "captions": [str(FIXTURES / "rolling_2018.en.vtt"), str(bad)],
            "caption_kind": ["auto", "auto"],
        }
    )
    words, readings, qc = extract_shard_words(videos)
    assert [(r.video_id, r.stage, r.reason) for r in qc] == [
        (
            "bad",
            "asr",
            f"caption file unreadable: {bad}: line 7: unreadable WebVTT cue timing "
            "'00:00:03.000 -> 00:00:04.000': no '-->' between start and end",
        )
    ]
    assert set(words["video_id"]) == {"good"}
    assert readings.values.tolist() == [["good", "WebVTT", "auto", "auto"]]


# Rolling ASR labelled 'manual'.


@pytest.mark.parametrize(
    "path", [FIXTURES / "rolling_2018.en.vtt", FIXTURES / "frozen_2026.en.vtt", SRT_FIXTURES / "rolling_auto.en.srt"]
)
def test_rolling_asr_labelled_manual_is_read_as_auto(path):
    reading = read_captions(path, "manual")
    assert reading.read_as == "auto"
    assert reading.words == parse_auto_captions(path)
    # read as human captions, the rolling lines would count again (the planted truth of the fix)
    assert len(parse_manual_captions(path)) > len(reading.words)


@pytest.mark.parametrize("path", [FIXTURES / "manual.en.vtt", SRT_FIXTURES / "manual.en.srt"])
def test_human_captions_labelled_manual_stay_manual(path):
    reading = read_captions(path, "manual")
    assert reading.read_as == "manual" and reading.words == parse_manual_captions(path)


def real(name: str) -> Path:
    path = REAL / name
    if not path.exists():
        pytest.skip(f"real caption files not present ({REAL})")
    return path


@pytest.mark.parametrize("srt", [False, True])
def test_real_rolling_asr_labelled_manual_gives_the_tokens_of_auto(tmp_path, srt):
    path = real("smagnacca_claude_video_editing_2026.en.vtt")
    if srt:  # yt-dlp --convert-subs srt: the word tags are gone, the cues still roll
        converted = tmp_path / "captions.srt"
        subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(path), str(converted)], check=True)
        path = converted
    videos = pd.DataFrame(
        {
            "video_id": ["labelled_auto", "labelled_manual"],
            "captions": [str(path)] * 2,
            "caption_kind": ["auto", "manual"],
        }
    )
    words, readings, qc = extract_shard_words(videos)
    assert qc == []
    tokens = {video: table["token"].tolist() for video, table in words.groupby("video_id")}
    assert tokens["labelled_manual"] == tokens["labelled_auto"]
    manual_tokens = [t for w in parse_manual_captions(path) for t in tokenize(w.text)]
    assert len(manual_tokens) > 2 * len(tokens["labelled_auto"])  # rolling: each line 2-3 times
    assert readings[["video_id", "caption_kind", "read_as"]].values.tolist() == [
        ["labelled_auto", "auto", "auto"],
        ["labelled_manual", "manual", "auto"],
    ]


def test_real_human_captions_labelled_manual_stay_manual():
    path = real("richardadonnell_upwork_proposals.en.vtt")
    assert read_captions(path, "manual").read_as == "manual"


# Caption formats that are not read are named.


@pytest.mark.parametrize(
    "content, name",
    [
        ("0:00:00.599,0:00:04.160\nHi everyone\n\n0:00:04.160,0:00:06.000\nwelcome\n", "SBV (YouTube SubViewer)"),
        (
            '<?xml version="1.0" encoding="utf-8" ?><timedtext format="3">\n<body>\n'
            '<p t="599" d="3561"><s ac="0">Hi</s><s t="240" ac="0"> everyone</s></p>\n</body>\n</timedtext>\n',
            "YouTube timed text XML (srv1/srv2/srv3/ytt)",
        ),
        (
            '<?xml version="1.0" encoding="utf-8" ?><transcript><text start="0.6" dur="3.56">Hi everyone'
            "</text></transcript>\n",
            "YouTube timed text XML (srv1/srv2/srv3/ytt)",
        ),
        (
            '<?xml version="1.0" encoding="utf-8" ?>\n<tt xmlns="http://www.w3.org/ns/ttml"><body><div>'
            '<p begin="00:00:00.599" end="00:00:04.160">Hi everyone</p></div></body></tt>\n',
            "TTML (XML)",
        ),
        (
            '{\n  "wireMagic": "pb3",\n  "events": [ {\n    "tStartMs": 599,\n    "segs": [ {\n'
            '      "utf8": "Hi"\n    } ]\n  } ]\n}\n',
            "YouTube json3",
        ),
    ],
)
def test_other_caption_formats_are_named_in_the_error(tmp_path, content, name):
    for file_name in ("video.en.srt", "video.en.sbv", "video"):
        path = write(tmp_path, "\ufeff" + content, file_name)
        with pytest.raises(CaptionError) as error:
            read_captions(path, "manual")
        assert str(error.value) == (
            f"{path}: {name} captions, which are not read: give WebVTT or SRT (yt-dlp --sub-format vtt)"
        )
