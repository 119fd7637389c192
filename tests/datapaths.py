"""Where the tests' real data lies. Test modules import these from here, not from `conftest`:
several test folders have a conftest.py, and `import conftest` gets whichever loaded first."""
from __future__ import annotations

import os

TESTS_DIR = os.path.dirname(os.path.abspath(__file__))
DATA_DIR = os.path.join(TESTS_DIR, "data")
SAMPLE_WET = os.path.join(os.path.dirname(TESTS_DIR), "cleancrawl", "corpus", "data", "sample", "pages.warc.wet.gz")
PAGES_WARC = os.path.join(DATA_DIR, "pages-40.warc.gz")
EDGE_CASES = os.path.join(DATA_DIR, "warc-edge-cases")
COMMONCRAWL = os.path.join(DATA_DIR, "commoncrawl")


def gzip_members(data: bytes) -> list[bytes]:
    """The gzip members of `data` (one WARC record each in Common Crawl's files), each as its own bytes."""
    import zlib

    members = []
    while data:
        member = zlib.decompressobj(31)
        member.decompress(data)
        used = len(data) - len(member.unused_data)
        members.append(data[:used])
        data = member.unused_data
    return members



def write_sample_listing(folder, files: int, subfolder: str = "", repeated: slice = slice(0, 0)) -> list[str]:
    """The bundled WET sample cut at gzip members into `files` real WET files under `folder`
    (`subfolder` if given; the first file holds the warcinfo record), and a `wet.paths` listing of
    them; the members `repeated` are appended again to the last file (the same URLs in another file).
    Returns the listed names."""
    with open(SAMPLE_WET, "rb") as f:
        members = gzip_members(f.read())
    per_file = -(-len(members) // files)
    names = []
    for i in range(files):
        part = members[i * per_file:(i + 1) * per_file] + (members[repeated] if i == files - 1 else [])
        name = f"{subfolder}/part-{i:02d}.warc.wet.gz" if subfolder else f"part-{i:02d}.warc.wet.gz"
        os.makedirs(os.path.dirname(os.path.join(folder, name)), exist_ok=True)
        with open(os.path.join(folder, name), "wb") as out:
            out.write(b"".join(part))
        names.append(name)
    with open(os.path.join(folder, "wet.paths"), "w") as out:
        out.write("\n".join(names) + "\n")
    return names
