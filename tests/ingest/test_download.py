import collections
import copy
import dataclasses
import functools
import http.server
import io
import json
import logging
import shutil
import threading
import time
from pathlib import Path
from urllib.parse import urlparse

import pandas as pd
import pytest
import yaml
from yt_dlp.networking import Response
from yt_dlp.networking.exceptions import HTTPError
from yt_dlp.utils import DownloadError, GeoRestrictedError

from conftest import make_test_video
from groundprobe.ingest.download import MissingVideoError, ingest_shard, prune_videos, require_video_files
from groundprobe.ingest.download_plan import DownloadFailure, DownloadSettings, plan_video
from groundprobe.ingest.ytdlp_download import (
    ErrorKind,
    asr_track,
    classify_error,
    download,
    extract,
    live_status,
    unusable_caption_keys,
    ytdlp_params,
)

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def http_root(tmp_path):
    """A static file server on 127.0.0.1 that counts the requests it answers."""
    root = tmp_path / "served"
    root.mkdir()
    hits = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            hits.append(self.path)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=root))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}", hits
    server.shutdown()


def manifest_rows(rows):
    return pd.DataFrame(rows, columns=["video_id", "source", "source_type", "captions", "caption_kind"])


def test_local_sources_are_probed_in_place_and_failures_recorded(tmp_path, tiny_video):
    captions = tmp_path / "c.vtt"
    captions.write_text("WEBVTT\n")
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(bytes(range(256)) * 50)
    videos = manifest_rows(
        [
            ("good", str(tiny_video), "local", str(captions), "auto"),
            ("missing", str(tmp_path / "nope.mp4"), "local", str(captions), "auto"),
            ("broken", str(garbage), "local", str(captions), "auto"),
            ("nocaps", str(tiny_video), "local", "", "auto"),
        ]
    )
    table, qc = ingest_shard(videos, tmp_path / "downloads")
    status = table.set_index("video_id")
    assert status.loc["good", "status"] == "ok"
    assert status.loc["good", "video_path"] == str(tiny_video)
    assert status.loc["good", "duration_s"] == pytest.approx(6.0, abs=0.05)
    reasons = {r.video_id: (r.stage, r.reason) for r in qc}
    assert set(reasons) == {"missing", "broken", "nocaps"}
    assert reasons["missing"] == ("download", f"unavailable: file not found: {tmp_path / 'nope.mp4'}")
    assert reasons["broken"][1].startswith("undecodable:") and "garbage.mp4" in reasons["broken"][1]
    assert reasons["nocaps"][1] == "no_captions: no caption file given"
    assert list(table.video_id) == list(videos.video_id)
    assert status["reason_code"].to_dict() == {
        "good": "",
        "missing": "unavailable",
        "broken": "undecodable",
        "nocaps": "no_captions",
    }
    assert not status["retryable"].any() and set(status["source_type"]) == {"local"}


def test_http_sources_are_fetched_once(tmp_path, tiny_video, http_root):
    root, base, hits = http_root
    shutil.copy(tiny_video, root / "v.mp4")
    (root / "v.vtt").write_text("WEBVTT\n")
    videos = manifest_rows(
        [
            ("web", f"{base}/v.mp4", "http", f"{base}/v.vtt", "auto"),
            ("gone", f"{base}/absent.mp4", "http", f"{base}/v.vtt", "auto"),
        ]
    )
    table, qc = ingest_shard(videos, tmp_path / "downloads")
    row = table.set_index("video_id").loc["web"]
    assert row.status == "ok"
    assert (tmp_path / "downloads" / "web.mp4").read_bytes() == tiny_video.read_bytes()
    assert [r.video_id for r in qc] == ["gone"] and "404" in qc[0].reason
    assert qc[0].reason.startswith("unavailable: ")
    fetched = len(hits)
    again, _ = ingest_shard(videos.iloc[:1], tmp_path / "downloads")
    assert again.loc[0, "status"] == "ok"
    assert len(hits) == fetched, "a complete download was fetched again"
    assert not list((tmp_path / "downloads").glob(".*.tmp")), "temporary files left behind"


def test_an_http_source_that_is_not_http_is_refused_not_copied(tmp_path, tiny_video):
    videos = manifest_rows([("disk", f"file://{tiny_video}", "http", "", "auto")])
    table, qc = ingest_shard(videos, tmp_path / "downloads")
    assert table.loc[0, "reason_code"] == "unavailable" and not table.loc[0, "retryable"]
    assert qc[0].reason == (
        f"unavailable: cannot fetch file://{tiny_video}: only http:// and https:// URLs are fetched"
    )
    assert not (tmp_path / "downloads").exists() or not any((tmp_path / "downloads").iterdir())


# --- A small video site for yt-dlp's generic extractor -------------------------------------------


@dataclasses.dataclass
class SiteVideo:
    video: bytes
    tracks: dict[str, str]  # srclang -> WebVTT text
    mode: str = "ok"  # ok, gone (404 page), truncated, stalled, flaky (truncated once)


class VideoSite:
    """Per video a page ``/<id>.html`` with ``<video src>`` and ``<track kind=captions>`` elements;
    media under ``/media/``. While ``broken``, truncated/stalled videos misbehave."""

    def __init__(self):
        self.videos: dict[str, SiteVideo] = {}
        self.hits: collections.Counter = collections.Counter()
        self.broken = True
        self.release = threading.Event()  # ends every stall (teardown)
        self.base = ""

    def page(self, video_id: str) -> str:
        return f"{self.base}/{video_id}.html"

    def media_hits(self, video_id: str) -> int:
        return self.hits[f"/media/{video_id}.mp4"]

    def html(self, video_id: str) -> bytes:
        tracks = "".join(
            f'<track kind="captions" srclang="{lang}" label="{lang}" src="/media/{video_id}.{lang}.vtt">'
            for lang in self.videos[video_id].tracks
        )
        return (
            f"<!DOCTYPE html><html><head><title>Video {video_id}</title></head><body>"
            f'<video controls src="/media/{video_id}.mp4">{tracks}</video></body></html>'
        ).encode()


def _handler(site: VideoSite):
    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def send(self, body: bytes, content_type: str, length: int | None = None):
            self.send_response(200)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body) if length is None else length))
            self.end_headers()
            self.wfile.write(body)
            self.wfile.flush()

        def do_GET(self):
            path = urlparse(self.path).path
            site.hits[path] += 1
            name = path.rsplit("/", 1)[-1]
            video_id, _, rest = name.partition(".")
            spec = site.videos.get(video_id)
            if spec is None or (rest == "html" and spec.mode == "gone"):
                self.send_error(404)
            elif rest == "html":
                self.send(site.html(video_id), "text/html")
            elif rest == "mp4":
                self.send_video(spec, site.hits[path])
            elif rest.removesuffix(".vtt") in spec.tracks:
                self.send(spec.tracks[rest.removesuffix(".vtt")].encode(), "text/vtt")
            else:
                self.send_error(404)

        def send_video(self, spec: SiteVideo, request_number: int):
            truncate = (spec.mode == "truncated" and site.broken) or (spec.mode == "flaky" and request_number == 1)
            if truncate:  # announce the whole file, send half of it, close
                self.send(spec.video[: len(spec.video) // 2], "video/mp4", len(spec.video))
                self.close_connection = True
            elif spec.mode == "stalled" and site.broken:  # headers, then silence
                self.send(b"", "video/mp4", len(spec.video))
                site.release.wait(30)
                self.close_connection = True
            else:
                self.send(spec.video, "video/mp4")

    return Handler


@pytest.fixture
def video_site():
    site = VideoSite()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _handler(site))
    site.base = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield site
    site.release.set()
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="session")
def short_video(tmp_path_factory) -> Path:
    """A 2-second video."""
    return make_test_video(tmp_path_factory.mktemp("short") / "short.mp4", 2)


def vtt(text: str) -> str:
    return f"WEBVTT\n\n00:00:00.500 --> 00:00:01.500\n{text}\n"


# Human captions are all the generic extractor can offer, so these settings accept them; short
# socket timeouts and no yt-dlp retries keep failures fast.
FAST = DownloadSettings(
    caption_kinds=("auto", "manual"),
    min_duration_s=5,
    sleep_s=0,
    retries=0,
    retry_backoff_s=0.01,
    video_attempts=1,
    socket_timeout_s=1,
)
PAPER = dataclasses.replace(FAST, caption_kinds=("auto",))  # English ASR only, as the paper
BOTH = FAST
EXPECTED_CODES = {
    "good1": "",
    "good2": "",
    "gone": "unavailable",
    "truncated": "download_failed",
    "stalled": "download_failed",
    "nocaps": "no_captions",
    "german": "not_english",
    "short": "too_short",
}


@pytest.fixture
def site_shard(video_site, tiny_video, short_video):
    """The site serving one video of every case, and the manifest rows of one shard."""
    video, short = tiny_video.read_bytes(), short_video.read_bytes()
    site = video_site
    site.videos.update(
        {
            "good1": SiteVideo(video, {"en": vtt("hello one")}),
            "good2": SiteVideo(video, {"en": vtt("hello two"), "de": vtt("hallo zwei")}),
            "gone": SiteVideo(video, {"en": vtt("never")}, mode="gone"),
            "truncated": SiteVideo(video, {"en": vtt("cut")}, mode="truncated"),
            "stalled": SiteVideo(video, {"en": vtt("stuck")}, mode="stalled"),
            "nocaps": SiteVideo(video, {}),
            "german": SiteVideo(video, {"de": vtt("nur deutsch")}),
            "short": SiteVideo(short, {"en": vtt("brief")}),
        }
    )
    rows = manifest_rows([(vid, site.page(vid), "ytdlp", "", "auto") for vid in EXPECTED_CODES])
    return site, rows


def test_ytdlp_shard_every_video_ends_ok_or_in_qc_with_its_reason_code(tmp_path, site_shard):
    site, rows = site_shard
    table, qc = ingest_shard(rows, tmp_path / "dl", FAST)
    assert list(table.video_id) == list(rows.video_id)
    by_id = table.set_index("video_id")
    assert by_id["reason_code"].to_dict() == EXPECTED_CODES
    qc_reasons = {r.video_id: r.reason for r in qc}
    failed = {vid for vid, code in EXPECTED_CODES.items() if code}
    assert set(qc_reasons) == failed, "every failure is in QC, nothing lost, nothing extra"
    for vid in failed:
        assert qc_reasons[vid].startswith(f"{EXPECTED_CODES[vid]}: "), qc_reasons[vid]
        assert by_id.loc[vid, "status"] == "failed" and not by_id.loc[vid, "video_path"]
    assert by_id["retryable"].to_dict() == {vid: code == "download_failed" for vid, code in EXPECTED_CODES.items()}
    for vid in ("good1", "good2"):
        row = by_id.loc[vid]
        served = site.videos[vid]
        assert row.status == "ok" and row.caption_kind == "manual" and row.english_tracks == "manual"
        assert Path(row.video_path) == tmp_path / "dl" / vid / f"{vid}.mp4"
        assert Path(row.video_path).read_bytes() == served.video
        assert Path(row.captions_path).read_text() == served.tracks["en"]
        assert row.manual_captions_path == row.captions_path
        info = json.loads(Path(row.info_path).read_text())
        assert info["title"] == row.title and "Video " + vid in row.title
        assert set(info["subtitles"]) == set(served.tracks), "the info JSON lists every track"
        assert row.duration_s == pytest.approx(6.0, abs=0.05)
        assert (tmp_path / "dl" / vid / "done.json").is_file()
    for vid in ("truncated", "stalled"):
        assert not (tmp_path / "dl" / vid).exists(), "a partial download must not survive"
        assert by_id.loc[vid, "info_path"] == "", "no path to a file that went with the folder"
    for vid in ("nocaps", "german", "gone"):
        assert site.media_hits(vid) == 0, f"{vid}: decided before fetching the video"
    assert "de" in qc_reasons["german"]
    assert site.media_hits("short") == 1  # the generic page gives no duration: known after download
    assert sorted(p.name for p in (tmp_path / "dl" / "short").iterdir()) == ["done.json", "short.info.json"]


def test_ytdlp_rerun_fetches_only_retryable_failures_until_they_succeed(tmp_path, site_shard):
    site, rows = site_shard
    first, _ = ingest_shard(rows, tmp_path / "dl", FAST)
    hits_before = site.hits.copy()

    second, _ = ingest_shard(rows, tmp_path / "dl", FAST)
    pd.testing.assert_frame_equal(second, first)
    refetched = {path for path, n in site.hits.items() if n > hits_before[path]}
    assert refetched <= {
        site_path
        for vid in ("truncated", "stalled")
        for site_path in (f"/{vid}.html", f"/media/{vid}.mp4", f"/media/{vid}.en.vtt")
    }
    assert site.media_hits("good1") == hits_before["/media/good1.mp4"] == 1, "complete video fetched again"

    site.broken = False
    hits_before = site.hits.copy()
    third, qc = ingest_shard(rows, tmp_path / "dl", FAST)
    refetched = {path.split("/")[-1].split(".")[0] for path, n in site.hits.items() if n > hits_before[path]}
    assert refetched == {"truncated", "stalled"}, "only retryable failures are requested again"
    by_id = third.set_index("video_id")
    for vid in ("truncated", "stalled"):
        assert by_id.loc[vid, "status"] == "ok"
        assert Path(by_id.loc[vid, "video_path"]).read_bytes() == site.videos[vid].video
    assert {r.video_id for r in qc} == {"gone", "nocaps", "german", "short"}
    unchanged = [vid for vid in EXPECTED_CODES if vid not in ("truncated", "stalled")]
    pd.testing.assert_frame_equal(
        third.set_index("video_id").loc[unchanged], first.set_index("video_id").loc[unchanged]
    )


def test_changed_outcome_settings_reevaluate_settled_videos(tmp_path, site_shard):
    site, rows = site_shard
    rows = rows[rows.video_id.isin(["good1", "short"])]
    ingest_shard(rows, tmp_path / "dl", FAST)
    table, _ = ingest_shard(rows, tmp_path / "dl", dataclasses.replace(FAST, min_duration_s=1))
    assert table["status"].tolist() == ["ok", "ok"]
    assert site.media_hits("short") == 2 and site.media_hits("good1") == 2


def test_stalled_server_fails_within_the_socket_timeout(tmp_path, video_site, tiny_video):
    video_site.videos["stalled"] = SiteVideo(tiny_video.read_bytes(), {"en": vtt("x")}, mode="stalled")
    rows = manifest_rows([("stalled", video_site.page("stalled"), "ytdlp", "", "auto")])
    start = time.monotonic()
    table, qc = ingest_shard(rows, tmp_path / "dl", FAST)
    assert time.monotonic() - start < 6 * FAST.socket_timeout_s
    assert table.loc[0, "reason_code"] == "download_failed" and table.loc[0, "retryable"]
    assert qc[0].reason.startswith("download_failed: ") and "timed out" in qc[0].reason


def test_transient_failure_is_retried_in_the_same_run(tmp_path, video_site, tiny_video):
    video_site.videos["flaky"] = SiteVideo(tiny_video.read_bytes(), {"en": vtt("x")}, mode="flaky")
    rows = manifest_rows([("flaky", video_site.page("flaky"), "ytdlp", "", "auto")])
    table, qc = ingest_shard(rows, tmp_path / "dl", dataclasses.replace(FAST, video_attempts=2))
    assert table.loc[0, "status"] == "ok" and not qc
    assert video_site.media_hits("flaky") == 2
    assert Path(table.loc[0, "video_path"]).read_bytes() == tiny_video.read_bytes()


def test_paper_default_accepts_asr_only_so_human_captions_are_no_captions(tmp_path, video_site, tiny_video):
    video_site.videos["human"] = SiteVideo(tiny_video.read_bytes(), {"en": vtt("x")})
    rows = manifest_rows([("human", video_site.page("human"), "ytdlp", "", "auto")])
    table, qc = ingest_shard(rows, tmp_path / "dl", PAPER)
    assert qc[0].reason == ("no_captions: no auto captions (only manual, not accepted by download.caption_kinds)")
    assert video_site.media_hits("human") == 0


def test_a_caption_key_that_cannot_name_a_file_is_skipped_with_a_logged_reason(
    tmp_path, video_site, tiny_video, caplog
):
    """A site's track key such as 'en-/../../x' never reaches a path: the track counts as absent,
    a permanent outcome with the reason in the log (it was a retryable failure)."""
    video_site.videos["evil"] = SiteVideo(tiny_video.read_bytes(), {"en-/../../x": vtt("escape")})
    rows = manifest_rows([("evil", video_site.page("evil"), "ytdlp", "", "auto")])
    with caplog.at_level(logging.WARNING, logger="groundprobe.ingest.download"):
        table, qc = ingest_shard(rows, tmp_path / "dl", FAST)
    assert table.loc[0, "reason_code"] == "no_captions" and not table.loc[0, "retryable"]
    assert [
        record.getMessage().split(" skipped")[0] for record in caplog.records if "skipped" in record.getMessage()
    ] == ["evil: caption track 'en-/../../x'"]
    assert not list(tmp_path.rglob("*.vtt")) and video_site.media_hits("evil") == 0


def test_videos_without_captions_are_fetched_when_captions_are_not_required(tmp_path, video_site, tiny_video):
    """CrossTask's videos: no accepted track (none, or only German) is no reason to skip, and no
    track is fetched (a failing caption request cannot cost the video)."""
    video = tiny_video.read_bytes()
    video_site.videos.update(
        {
            "silent": SiteVideo(video, {}),
            "german": SiteVideo(video, {"de": vtt("nur deutsch")}),
            "english": SiteVideo(video, {"en": vtt("hello")}),
        }
    )
    rows = manifest_rows(
        [(vid, video_site.page(vid), "ytdlp", "", "auto") for vid in ("silent", "german", "english")]
        + [("local", str(tiny_video), "local", "", "auto")]
    )
    optional = dataclasses.replace(FAST, captions_required=False)
    table, qc = ingest_shard(rows, tmp_path / "dl", optional)
    assert not qc
    by_id = table.set_index("video_id")
    assert (by_id["status"] == "ok").all()
    assert (by_id["captions_path"] == "").all()
    for vid in ("silent", "german", "english"):
        assert Path(by_id.loc[vid, "video_path"]).read_bytes() == video
        assert not list((tmp_path / "dl" / vid).glob("*.vtt"))
    # A marker settled while captions were optional does not hold once they are required.
    table, qc = ingest_shard(rows, tmp_path / "dl", FAST)
    assert {r.video_id: r.reason.split(":")[0] for r in qc} == {
        "silent": "no_captions",
        "german": "not_english",
        "local": "no_captions",
    }
    assert Path(table.set_index("video_id").loc["english", "captions_path"]).read_text() == vtt("hello")


def test_a_ytdlp_row_with_its_own_captions_fetches_the_video_only_and_reads_its_file(tmp_path, video_site, tiny_video):
    """HowTo100M's videos come from YouTube, their captions from the release: the row's caption
    file is used (a site track or a German-only video changes nothing) and no track is fetched;
    a given file that is gone is the row's no_captions."""
    video = tiny_video.read_bytes()
    video_site.videos.update(
        {
            "own": SiteVideo(video, {"en": vtt("site words")}),
            "german": SiteVideo(video, {"de": vtt("nur deutsch")}),
            "lost": SiteVideo(video, {"en": vtt("site words")}),
        }
    )
    given = tmp_path / "release.vtt"
    given.write_text(vtt("release words"))
    rows = manifest_rows(
        [
            ("own", video_site.page("own"), "ytdlp", str(given), "auto"),
            ("german", video_site.page("german"), "ytdlp", str(given), "manual"),
            ("lost", video_site.page("lost"), "ytdlp", str(tmp_path / "gone.vtt"), "auto"),
        ]
    )
    table, qc = ingest_shard(rows, tmp_path / "dl", FAST)
    assert {r.video_id: r.reason.split(":")[0] for r in qc} == {"lost": "no_captions"}
    by_id = table.set_index("video_id")
    for vid, kind in (("own", "auto"), ("german", "manual")):
        assert by_id.loc[vid, "status"] == "ok"
        assert Path(by_id.loc[vid, "captions_path"]) == given
        assert by_id.loc[vid, "caption_kind"] == kind
        assert Path(by_id.loc[vid, "video_path"]).read_bytes() == video
        assert not list((tmp_path / "dl" / vid).glob("*.vtt"))


def test_markers_of_captioned_corpora_hold_across_the_captions_required_setting():
    """Markers written before the setting existed hold: the default leaves the fingerprint as it
    was; only an optional-captions download differs."""
    assert "captions_required" not in DownloadSettings().fingerprint()
    optional = dataclasses.replace(DownloadSettings(), captions_required=False).fingerprint()
    assert optional == DownloadSettings().fingerprint() | {"captions_required": False}


def test_asr_and_manual_tracks_are_fetched_side_by_side(tmp_path, video_site, tiny_video):
    """The generic extractor lists human tracks only; reshaped as yt-dlp's YouTube extractor lists
    them (untranslated ASR under 'en-orig', an auto-translation, a human track), the same download
    path writes the ASR track as <id>.en.vtt and the human one as <id>.en-GB-manual.vtt."""
    video_site.videos["yt"] = SiteVideo(
        tiny_video.read_bytes(), {"en": vtt("asr words"), "de": vtt("übersetzt"), "en-GB": vtt("Human words.")}
    )
    params = ytdlp_params(PAPER.ytdlp_options(), tmp_path / "yt", "yt", logging.getLogger("test"))
    info = extract(video_site.page("yt"), params)
    listed = info["subtitles"]
    info |= {
        "automatic_captions": {"en-orig": listed["en"], "en": listed["en"], "de": listed["de"]},
        "subtitles": {"en-GB": listed["en-GB"]},
    }
    plan = plan_video(info, PAPER)
    files = download(info, plan.wanted, params)
    assert files.captions == {
        "en": tmp_path / "yt" / "yt.en.vtt",
        "en-GB-manual": tmp_path / "yt" / "yt.en-GB-manual.vtt",
    }
    assert files.captions["en"].read_text() == vtt("asr words")
    assert files.captions["en-GB-manual"].read_text() == vtt("Human words.")
    assert files.video.read_bytes() == tiny_video.read_bytes()
    assert video_site.hits["/media/yt.de.vtt"] == 0, "translations are never fetched"


def test_http_truncated_transfer_is_retryable_and_leaves_no_file(tmp_path, video_site, tiny_video):
    video_site.videos["cut"] = SiteVideo(tiny_video.read_bytes(), {"en": vtt("x")}, mode="truncated")
    base = video_site.base
    rows = manifest_rows([("cut", f"{base}/media/cut.mp4", "http", f"{base}/media/cut.en.vtt", "auto")])
    table, qc = ingest_shard(rows, tmp_path / "dl", FAST)
    assert table.loc[0, "reason_code"] == "download_failed" and table.loc[0, "retryable"]
    assert not list((tmp_path / "dl").iterdir())


# --- Decisions on yt-dlp's info, modelled on its YouTube extractor's output ----------------------


def tracks(*keys):
    """Caption tracks as yt-dlp lists them: several formats per key, WebVTT among them."""
    return {
        key: [
            {"ext": "json3", "url": f"https://www.youtube.com/api/timedtext?lang={key}&fmt=json3"},
            {"ext": "vtt", "url": f"https://www.youtube.com/api/timedtext?lang={key}&fmt=vtt"},
        ]
        for key in keys
    }


TRANSLATIONS = ("af", "ar", "de", "en", "es", "fr", "ja", "zh-Hans")


def youtube_info(spoken=(), manual=(), original_audio=None, **fields):
    """ASR tracks for each ``spoken`` language (untranslated '-orig' plus auto-translations into
    every language, English included), human tracks ``manual``, audio tracks per spoken language
    (``original_audio`` marked as YouTube's original)."""
    auto = {}
    for language in spoken:
        auto |= tracks(f"{language}-orig", *TRANSLATIONS)
    audio = [
        {
            "format_id": f"251-{i}",
            "acodec": "opus",
            "vcodec": "none",
            "language": language,
            "language_preference": 10 if language == original_audio else -1,
        }
        for i, language in enumerate(spoken)
    ]
    return {
        "id": "abcdefghijk",
        "title": "t",
        "duration": 200,
        "live_status": "not_live",
        "automatic_captions": auto,
        "subtitles": tracks(*manual),
        "formats": audio + [{"format_id": "134", "vcodec": "avc1", "acodec": "none", "height": 360}],
        **fields,
    }


def test_english_asr_is_the_untranslated_track():
    plan = plan_video(youtube_info(spoken=["en"]), PAPER)
    assert (plan.kind, plan.wanted, plan.english_tracks) == ("auto", {"en": ("automatic_captions", "en-orig")}, "auto")


def test_english_auto_translation_of_a_german_video_is_not_english_asr():
    info = youtube_info(spoken=["de"])
    assert "en" in info["automatic_captions"]
    with pytest.raises(DownloadFailure) as skip:
        plan_video(info, PAPER)
    assert skip.value.code == "not_english" and "'de'" in skip.value.reason


@pytest.mark.parametrize(
    "original, expected", [("es", ("es-orig", "es")), ("en", ("en-orig", "en")), (None, (None, None))]
)
def test_auto_dubbed_video_takes_the_asr_of_its_original_audio(original, expected):
    info = youtube_info(spoken=["es", "en"], original_audio=original)
    assert asr_track(info) == expected


def test_tracks_without_orig_marker_count_only_when_untranslated():
    assert asr_track({"automatic_captions": tracks("en")}) == ("en", "en")
    assert asr_track({"automatic_captions": tracks("en", "de")}) == (None, None)
    assert asr_track({"automatic_captions": tracks("en", "de"), "language": "de"}) == ("de", "de")
    json_only = {"en-orig": [{"ext": "json3", "url": "u"}]}
    assert asr_track({"automatic_captions": json_only}) == (None, None)


def test_manual_captions_are_recorded_beside_asr_and_used_only_when_accepted():
    plan = plan_video(youtube_info(spoken=["en"], manual=["en-GB", "fr"]), PAPER)
    assert plan.kind == "auto" and plan.manual == "en-GB-manual"
    assert plan.wanted == {"en": ("automatic_captions", "en-orig"), "en-GB-manual": ("subtitles", "en-GB")}
    assert plan.english_tracks == "auto;manual"
    german_with_english_subs = youtube_info(spoken=["de"], manual=["en", "en-GB"])
    with pytest.raises(DownloadFailure, match="ASR track in 'de'") as skip:
        plan_video(german_with_english_subs, PAPER)
    assert skip.value.code == "not_english"
    plan = plan_video(german_with_english_subs, BOTH)
    assert (plan.kind, plan.captions) == ("manual", "en-manual")
    assert plan.wanted == {"en-manual": ("subtitles", "en")}


def test_caption_keys_that_cannot_name_a_file_count_as_absent_beside_usable_ones():
    info = youtube_info(manual=["en-/../../x", "en", "../en"])
    info["automatic_captions"] = tracks(".en-orig", "en/x")
    assert asr_track(info) == (None, None)
    plan = plan_video(info, BOTH)
    assert (plan.kind, plan.wanted) == ("manual", {"en-manual": ("subtitles", "en")})
    assert unusable_caption_keys(info) == [".en-orig", "en/x", "en-/../../x", "../en"]


@pytest.mark.parametrize(
    "info, settings, code",
    [
        (youtube_info(), PAPER, "no_captions"),
        (youtube_info(manual=["en"]), PAPER, "no_captions"),
        (youtube_info(manual=["de"]), BOTH, "not_english"),
        (youtube_info(spoken=["en"], duration=3), PAPER, "too_short"),
        (youtube_info(spoken=["en"], live_status="is_upcoming"), PAPER, "live"),
        ({"_type": "playlist", "entries": [{}, {}]}, PAPER, "unavailable"),
    ],
)
def test_skips_are_decided_before_the_download(info, settings, code):
    with pytest.raises(DownloadFailure) as skip:
        plan_video(info, settings)
    assert skip.value.code == code


@pytest.mark.parametrize(
    "info, expected",
    [
        ({"live_status": "is_live"}, "is_live"),
        ({"live_status": "is_upcoming"}, "is_upcoming"),
        ({"live_status": "post_live"}, "post_live"),
        ({"live_status": "was_live"}, None),
        ({"live_status": "not_live"}, None),
        ({"is_live": True}, "is_live"),
        ({}, None),
    ],
)
def test_live_status(info, expected):
    assert live_status(info) == expected


# Messages as yt-dlp words them (DownloadError text, "ERROR: " prefix included).
@pytest.mark.parametrize(
    "message, kind",
    [
        (
            "ERROR: [youtube] abcdefghijk: Private video. Sign in if you've been granted access to this "
            "video. Use --cookies-from-browser or --cookies for the authentication.",
            ErrorKind.UNAVAILABLE,
        ),
        (
            "ERROR: [youtube] abcdefghijk: Video unavailable. This video has been removed by the uploader",
            ErrorKind.UNAVAILABLE,
        ),
        (
            "ERROR: [youtube] abcdefghijk: Video unavailable. This video is no longer available because the "
            "YouTube account associated with this video has been terminated.",
            ErrorKind.UNAVAILABLE,
        ),
        (
            "ERROR: [youtube] abcdefghijk: The uploader has not made this video available in your country.",
            ErrorKind.UNAVAILABLE,
        ),
        (
            "ERROR: [youtube] abcdefghijk: Sign in to confirm your age. This video may be inappropriate for "
            "some users. Use --cookies-from-browser or --cookies for the authentication.",
            ErrorKind.UNAVAILABLE,
        ),
        (
            "ERROR: [youtube] abcdefghijk: Join this channel to get access to members-only content like this "
            "video, and other exclusive perks.",
            ErrorKind.UNAVAILABLE,
        ),
        (
            "ERROR: [generic] nope: Unable to download webpage: HTTP Error 404: Not Found (caused by "
            "<HTTPError 404: Not Found>)",
            ErrorKind.UNAVAILABLE,
        ),
        ("ERROR: Unsupported URL: https://example.com/", ErrorKind.UNAVAILABLE),
        ("ERROR: [youtube] abcdefghijk: This live event will begin in 3 hours.", ErrorKind.LIVE),
        ("ERROR: [youtube] abcdefghijk: Premieres in 2 days", ErrorKind.LIVE),
        (
            "ERROR: [youtube] abcdefghijk: Sign in to confirm you’re not a bot. Use --cookies-from-browser "
            "or --cookies for the authentication.",
            ErrorKind.TRANSIENT,
        ),
        (
            "ERROR: [youtube] abcdefghijk: Video unavailable. This content isn't available, try again later. "
            "The current session has been rate-limited by YouTube for up to an hour.",
            ErrorKind.TRANSIENT,
        ),
        (
            "ERROR: [download] Got error: 3106 bytes read, 3107 more expected. Giving up after 1 retries",
            ErrorKind.TRANSIENT,
        ),
        (
            "ERROR: [download] Got error: HTTPConnectionPool(host='127.0.0.1', port=1): Read timed out.. "
            "Giving up after 10 retries",
            ErrorKind.TRANSIENT,
        ),
        ("ERROR: unable to download video data: HTTP Error 403: Forbidden", ErrorKind.TRANSIENT),
        (
            "ERROR: [youtube] abcdefghijk: Requested format is not available. Use --list-formats for a list "
            "of available formats",
            ErrorKind.TRANSIENT,
        ),
        ("ERROR: something nobody has seen before", ErrorKind.TRANSIENT),
    ],
)
def test_error_messages_are_classified(message, kind):
    assert classify_error(DownloadError(message)) is kind


def _http_error(status):
    return HTTPError(Response(io.BytesIO(b""), "https://example.com/v", {}, status=status))


@pytest.mark.parametrize(
    "cause, kind",
    [
        (_http_error(404), ErrorKind.UNAVAILABLE),
        (_http_error(410), ErrorKind.UNAVAILABLE),
        (_http_error(429), ErrorKind.TRANSIENT),
        (_http_error(503), ErrorKind.TRANSIENT),
        (GeoRestrictedError("This video is not available from your location"), ErrorKind.UNAVAILABLE),
    ],
)
def test_error_causes_decide_before_the_message(cause, kind):
    # The message alone would say otherwise ("Giving up after" reads transient).
    error = DownloadError("ERROR: Giving up after 3 retries", exc_info=(type(cause), cause, None))
    assert classify_error(error) is kind


# --- Settings, pruning -----------------------------------------------------------------------


def test_settings_defaults_are_those_of_config_yaml():
    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    download = copy.deepcopy(config["download"])
    download["min_duration_s"] = download["min_duration_s"] or config["segments"]["length_s"]
    assert DownloadSettings.from_config(download) == DownloadSettings()
    assert DownloadSettings().format_selector() == "bv*[height<=?360]/b[height<=?360]/wv*/w"


def test_prune_deletes_only_fetched_videos_and_a_gone_video_asks_for_a_new_download(tmp_path, tiny_video):
    dl = tmp_path / "dl"
    fetched = dl / "yt" / "yt.mp4"
    fetched.parent.mkdir(parents=True)
    shutil.copy(tiny_video, fetched)
    outside = tmp_path / "elsewhere.mp4"
    shutil.copy(tiny_video, outside)
    downloads = pd.DataFrame(
        {
            "video_id": ["yt", "mine", "odd", "failed"],
            "video_path": [str(fetched), str(tiny_video), str(outside), ""],
            "source_type": ["ytdlp", "local", "http", "ytdlp"],
            "status": ["ok", "ok", "ok", "failed"],
        }
    )
    pruned = prune_videos(downloads, dl)
    assert pruned.to_dict("records") == [
        {"video_id": "yt", "video_path": str(fetched), "bytes_freed": tiny_video.stat().st_size}
    ]
    assert not fetched.exists() and tiny_video.exists() and outside.exists()
    assert prune_videos(downloads, dl).empty
    hint = "snakemake results/download/00000.tsv --forcerun download"
    with pytest.raises(MissingVideoError, match=r"1 downloaded video file\(s\) are gone: yt\..*--forcerun"):
        require_video_files(downloads.iloc[:2], hint)
