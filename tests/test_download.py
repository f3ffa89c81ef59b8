"""Downloads against a local HTTP server on 127.0.0.1 (no outside network)."""

import functools
import hashlib
import http.server
import io
import tarfile
import threading

import pytest

from seglab.cli import main
from seglab.data import download


class RangeHandler(http.server.SimpleHTTPRequestHandler):
    """Serves files with HTTP Range support (enough for resumed downloads)."""

    def log_message(self, *args):
        pass

    def send_head(self):
        path = self.translate_path(self.path)
        try:
            data = open(path, "rb").read()
        except OSError:
            self.send_error(404)
            return None
        start = 0
        if "Range" in self.headers:
            start = int(self.headers["Range"].split("=")[1].split("-")[0])
            if start >= len(data):  # as real servers answer a finished range
                self.send_error(416, "Range Not Satisfiable")
                return None
            self.send_response(206)
        else:
            self.send_response(200)
        body = data[start:]
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        return io.BytesIO(body)


@pytest.fixture()
def server(tmp_path):
    served = tmp_path / "served"
    served.mkdir()
    handler = functools.partial(RangeHandler, directory=str(served))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield served, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def _tarball(folder, name="data.tar"):
    path = folder / name
    with tarfile.open(path, "w") as tar:
        payload = b"hello segmentation\n" * 1000
        info = tarfile.TarInfo("VOCdevkit/VOC2012/readme.txt")
        info.size = len(payload)
        tar.addfile(info, io.BytesIO(payload))
    return path, hashlib.md5(path.read_bytes()).hexdigest()


def test_fetch_verifies_and_extracts(server, tmp_path):
    served, url = server
    path, md5 = _tarball(served)
    archive = download.Archive(f"{url}/{path.name}", md5)
    got = download.fetch(archive, tmp_path / "out")
    assert got.read_bytes() == path.read_bytes()
    download.extract(got, tmp_path / "out")
    assert (tmp_path / "out/VOCdevkit/VOC2012/readme.txt").is_file()


def test_fetch_resumes_a_partial_file(server, tmp_path):
    served, url = server
    path, md5 = _tarball(served)
    out = tmp_path / "out"
    out.mkdir()
    data = path.read_bytes()
    (out / f"{path.name}.part").write_bytes(data[:1000])
    got = download.fetch(download.Archive(f"{url}/{path.name}", md5), out)
    assert got.read_bytes() == data
    assert not (out / f"{path.name}.part").exists()


def test_checksum_mismatch_removes_the_file_and_says_so(server, tmp_path):
    served, url = server
    path, _ = _tarball(served)
    with pytest.raises(download.DownloadError, match="does not match"):
        download.fetch(download.Archive(f"{url}/{path.name}", "0" * 32), tmp_path)
    assert not list(tmp_path.glob("*.part"))


def test_unreachable_host_gives_the_offline_advice(tmp_path):
    archive = download.Archive("http://127.0.0.1:9/VOCtrainval.tar", "0" * 32)
    with pytest.raises(download.DownloadError) as error:
        download.fetch(archive, tmp_path, timeout=2)
    message = str(error.value)
    assert "cannot reach" in message and "by hand" in message
    assert "seglab data synth" in message


def test_cli_download_offline_is_one_clear_line(monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(
        download.ARCHIVES,
        "voc",
        (download.Archive("http://127.0.0.1:9/VOCtrainval_11-May-2012.tar", "0" * 32),),
    )
    assert main(["data", "download", "voc", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("seglab data: error: cannot reach") and "Traceback" not in err


def test_official_archives_are_pinned_with_md5():
    assert [a.filename for a in download.ARCHIVES["pets"]] == [
        "images.tar.gz",
        "annotations.tar.gz",
    ]
    assert download.ARCHIVES["voc"][0].filename == "VOCtrainval_11-May-2012.tar"
    for archives in download.ARCHIVES.values():
        for archive in archives:
            assert len(archive.md5) == 32


def test_a_complete_part_file_finishes_instead_of_failing(server, tmp_path):
    served, url = server
    path, md5 = _tarball(served)
    out = tmp_path / "out"
    out.mkdir()
    (out / f"{path.name}.part").write_bytes(path.read_bytes())
    got = download.fetch(download.Archive(f"{url}/{path.name}", md5), out)
    assert got.read_bytes() == path.read_bytes()
    assert not (out / f"{path.name}.part").exists()


def test_an_oversized_part_file_is_removed_with_advice(server, tmp_path):
    served, url = server
    path, md5 = _tarball(served)
    out = tmp_path / "out"
    out.mkdir()
    (out / f"{path.name}.part").write_bytes(path.read_bytes() + b"junk")
    with pytest.raises(download.DownloadError, match="removed.*again"):
        download.fetch(download.Archive(f"{url}/{path.name}", md5), out)
    assert not (out / f"{path.name}.part").exists()
