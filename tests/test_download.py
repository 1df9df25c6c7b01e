import functools
import http.server
import shutil
import threading

import pandas as pd
import pytest

from groundprobe.download import ingest_shard


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
    videos = manifest_rows([
        ("good", str(tiny_video), "local", str(captions), "auto"),
        ("missing", str(tmp_path / "nope.mp4"), "local", str(captions), "auto"),
        ("broken", str(garbage), "local", str(captions), "auto"),
        ("nocaps", str(tiny_video), "local", "", "auto"),
    ])
    table, qc = ingest_shard(videos, tmp_path / "downloads")
    status = table.set_index("video_id")
    assert status.loc["good", "status"] == "ok"
    assert status.loc["good", "video_path"] == str(tiny_video)
    assert status.loc["good", "duration_s"] == pytest.approx(6.0, abs=0.05)
    reasons = {r.video_id: (r.stage, r.reason) for r in qc}
    assert set(reasons) == {"missing", "broken", "nocaps"}
    assert reasons["missing"] == ("download", f"file not found: {tmp_path / 'nope.mp4'}")
    assert reasons["broken"][1].startswith("undecodable:") and "garbage.mp4" in reasons["broken"][1]
    assert reasons["nocaps"][1] == "no caption file given"
    assert list(table.video_id) == list(videos.video_id)


def test_http_sources_are_fetched_once(tmp_path, tiny_video, http_root):
    root, base, hits = http_root
    shutil.copy(tiny_video, root / "v.mp4")
    (root / "v.vtt").write_text("WEBVTT\n")
    videos = manifest_rows([("web", f"{base}/v.mp4", "http", f"{base}/v.vtt", "auto"),
                            ("gone", f"{base}/absent.mp4", "http", f"{base}/v.vtt", "auto")])
    table, qc = ingest_shard(videos, tmp_path / "downloads")
    row = table.set_index("video_id").loc["web"]
    assert row.status == "ok"
    assert (tmp_path / "downloads" / "web.mp4").read_bytes() == tiny_video.read_bytes()
    assert [r.video_id for r in qc] == ["gone"] and "404" in qc[0].reason
    fetched = len(hits)
    again, _ = ingest_shard(videos.iloc[:1], tmp_path / "downloads")
    assert again.loc[0, "status"] == "ok"
    assert len(hits) == fetched, "a complete download was fetched again"
    assert not list((tmp_path / "downloads").glob(".*.tmp")), "temporary files left behind"
