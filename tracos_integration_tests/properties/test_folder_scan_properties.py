"""Properties of the sensor's look at a local inbound folder (`scan_local_folder`): whatever
names, kinds and modification times the folder holds,

- every regular, visible file of the format is counted exactly once, as settled (in the
  fingerprint's entries) or as being written, by its own modification time;
- nothing else is counted: hidden files, folders, links, other names;
- every visible file of another format is reported once, as the run reports it
  (`list_other_formats`), and nothing else is;
- the oldest wait is the oldest settled file's;
- the fingerprint depends on the files, not on the order they were created in.

Small example counts in `make test`; PROPERTY_EXAMPLES=2000 runs them long."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tracos_integration.client.folder import ClientFolder
from tracos_integration.client.scanning import SKEW_NS, scan_local_folder
from tracos_integration_tests.properties import examples

EXAMPLES = examples(40)
PROPERTIES = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
SUFFIX, REPORTED = ".json", (".json", ".csv")
SETTLE_SECONDS = 10
NOW = time.time()
NOW_NS = int(NOW * 1e9)

stems = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="/\0"), min_size=1, max_size=12)
names = st.builds(lambda prefix, stem, suffix: prefix + stem + suffix,
                  st.sampled_from(["", "."]), stems, st.sampled_from([".json", ".JSON", ".csv", ".CSV", ".txt", ""]))
kinds = st.sampled_from(["file", "file", "file", "folder", "link"])
ages = st.sampled_from([  # nanoseconds before (or after) NOW
    3600 * 10**9, SETTLE_SECONDS * 10**9 + 1, SETTLE_SECONDS * 10**9 - 1, 0, -SKEW_NS + 1, -SKEW_NS - 10**9,
])
folders = st.dictionaries(names.filter(lambda name: len(name.encode("utf-8")) < 200 and name not in (".", "..")),
                          st.tuples(kinds, ages, st.binary(max_size=20)), max_size=12)


def _make(folder: Path, entries: dict, order: list[str]) -> None:
    for name in order:
        kind, age, content = entries[name]
        path = folder / name
        if kind == "folder":
            path.mkdir()
        elif kind == "link":
            path.symlink_to(folder)
        else:
            path.write_bytes(content)
            os.utime(path, ns=(NOW_NS - age, NOW_NS - age))


@PROPERTIES
@given(entries=folders, reverse=st.booleans())
def test_the_sensor_counts_each_ready_file_once_and_nothing_else(entries, reverse):
    root = Path(tempfile.mkdtemp(prefix="scan-property-"))
    try:
        first, second = root / "first", root / "second"
        first.mkdir()
        second.mkdir()
        order = sorted(entries)
        _make(first, entries, order)
        _make(second, entries, order[::-1] if reverse else order)
        scan = scan_local_folder(first, SUFFIX, REPORTED, SETTLE_SECONDS, now=NOW)

        files = {name: value for name, value in entries.items()
                 if value[0] == "file" and name.endswith(SUFFIX) and not name.startswith(".")}
        settled_before, ahead = NOW_NS - SETTLE_SECONDS * 10**9, NOW_NS + SKEW_NS
        writing = {name for name, (_, age, _) in files.items() if settled_before < NOW_NS - age <= ahead}
        ready = sorted(f"{name}\0{NOW_NS - age}\0{len(content)}"
                       for name, (_, age, content) in files.items() if name not in writing)
        assert sorted(scan.ready) == ready
        assert scan.being_written == len(writing)
        oldest = [NOW_NS - age for name, (_, age, _) in files.items() if name not in writing]
        assert scan.oldest_mtime_ns == (min(oldest) if oldest else None)

        run_sees = ClientFolder(inbound_dir=str(first), outbound_dir=str(root / "out")).list_other_formats()
        assert sorted(name[len(os.path.splitext(name)[0]):] for name in run_sees) == sorted(scan.other_format)

        again = scan_local_folder(second, SUFFIX, REPORTED, SETTLE_SECONDS, now=NOW)
        assert again.fingerprint == scan.fingerprint
    finally:
        shutil.rmtree(root, ignore_errors=True)
