"""Compression: assets compressed once per version and process, pages every time."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import pytest
from flask_compress import flask_compress

from experiment_host.compression import CompressedAssets
from tests.conftest import TEST_EXPERIMENTS, build_app, dispose
from tests.helpers import task_config

GZIP = {"Accept-Encoding": "gzip"}


def fetch(client, path: str, headers: dict[str, str] = GZIP):
    """GET ``path``, closing the answer (an asset's holds its file open until then)."""
    with client.get(path, headers=headers) as answer:
        answer.get_data()
        return answer


@pytest.fixture
def compressions(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """The bodies Flask-Compress compresses from now on."""
    seen: list[bytes] = []
    compress_data = flask_compress._compress_data

    def counted(app, data: bytes, algorithm: str) -> bytes:
        seen.append(data)
        return compress_data(app, data, algorithm)

    monkeypatch.setattr(flask_compress, "_compress_data", counted)
    return seen


@pytest.fixture
def experiments(tmp_path: Path) -> Path:
    """A copy of the test experiments whose files a test may change."""
    folder = tmp_path / "experiments"
    shutil.copytree(TEST_EXPERIMENTS, folder)
    return folder


@pytest.fixture
def client(tmp_path: Path, experiments: Path):
    app = build_app(f"sqlite:///{tmp_path / 'compression.sqlite3'}",
                    EXPERIMENTS_DIR=str(experiments))
    yield app.test_client()
    dispose(app)


def test_an_asset_is_compressed_once_per_version(client, experiments, compressions):
    script = experiments / "basic" / "task.js"  # long enough to be compressed
    script.write_text("".join(f"window.trial{n} = {n};\n" for n in range(200)))
    answers = [fetch(client, "/exp/basic/files/task.js") for _ in range(3)]
    assert [a.headers["Content-Encoding"] for a in answers] == ["gzip"] * 3
    assert {gzip.decompress(a.data) for a in answers} == {script.read_bytes()}
    assert len({a.headers["ETag"] for a in answers}) == 1
    assert compressions == [script.read_bytes()]
    # The file changes: its new version is compressed and served, not the one kept.
    script.write_text(script.read_text() + "\nwindow.changed = true;\n")
    changed = fetch(client, "/exp/basic/files/task.js")
    assert gzip.decompress(changed.data) == script.read_bytes()
    assert changed.headers["ETag"] != answers[0].headers["ETag"]
    assert len(compressions) == 2
    # Another encoding is another body.
    brotli = fetch(client, "/exp/basic/files/task.js", {"Accept-Encoding": "br"})
    assert brotli.headers["Content-Encoding"] == "br" and len(compressions) == 3


def test_the_clients_script_is_kept_compressed_too(client, compressions):
    for _ in range(2):
        answer = fetch(client, "/static/js/experiment-host.js")
        assert answer.headers["Content-Encoding"] == "gzip"
    assert len(compressions) == 1


def test_pages_are_compressed_every_time_with_their_own_token(client, compressions):
    tokens = set()
    for n in range(2):
        args = {"assignmentId": f"COMPRESSION{n:019d}", "hitId": "H",
                "workerId": f"ACOMPRESSION{n:04d}", "turkSubmitTo": "https://www.mturk.com"}
        page = client.get("/exp/open", query_string=args, headers=GZIP)
        assert page.headers["Content-Encoding"] == "gzip"
        tokens.add(task_config(gzip.decompress(page.data))["token"])
    assert len(tokens) == 2 and len(compressions) == 2


def test_the_kept_assets_are_bounded():
    kept = CompressedAssets(entries=2)
    for name in ("a", "b", "c"):
        kept.set(f"gzip;asset:/{name}.js|etag", name.encode())
    kept.set("gzip;", b"a page")  # not an asset's key: never kept
    assert len(kept) == 2
    assert kept.get("gzip;asset:/a.js|etag") is None
    assert kept.get("gzip;asset:/c.js|etag") == b"c"
    assert kept.get("gzip;") is None
