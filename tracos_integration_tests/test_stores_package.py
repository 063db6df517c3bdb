"""The stores package (tracos/stores/): each store's packages are imported only when that
store is opened, mongomock is patched only then, and a demo store without the `demo` extra
fails with one line saying what to install."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_python(code: str, **environment: str) -> subprocess.CompletedProcess:
    env = {**os.environ, **environment}
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=300)


def test_a_deployment_on_mongodb_never_imports_mongomock_or_litemongo():
    completed = run_python("""
        import sys
        import tracos_integration.definitions
        assert 'mongomock' not in sys.modules and 'litemongo' not in sys.modules, 'imported with the definitions'
        from tracos_integration.tracos.resource import MongoResource
        MongoResource().get_collection()  # no I/O until the first operation (connect=False)
        demo = sorted(name for name in sys.modules if name.split('.')[0] in ('mongomock', 'litemongo'))
        assert not demo, demo
    """, MONGO_URI="mongodb://localhost:27017/tractian")
    assert completed.returncode == 0, completed.stderr


def test_mongomock_is_patched_when_a_demo_store_is_opened_not_when_a_module_is_imported(tmp_path):
    completed = run_python(f"""
        import mongomock.filtering
        import tracos_integration.definitions
        from tracos_integration.tracos.stores import embedded, litemongo_adapter, memory, mongomock_compat, server
        vendored = litemongo_adapter.vendored_filtering()
        patched = lambda filtering: getattr(filtering, '_tracos_server_equality', False)
        assert not patched(mongomock.filtering) and not patched(vendored), 'patched at import'

        from tracos_integration.tracos.stores import open_collection
        memory_store = open_collection('mongomock://patches', 'db', 'c')
        assert patched(mongomock.filtering)
        memory_store.insert_one({{'isSynced': 1}})
        assert memory_store.count_documents({{'isSynced': {{'$ne': True}}}}) == 1  # 1 is not true, as on a server

        assert not patched(vendored)
        embedded_store = open_collection('embedded://{tmp_path}/tracos.json', 'db', 'c')
        assert patched(vendored)
        embedded_store.insert_one({{'isSynced': 1}})
        assert embedded_store.count_documents({{'isSynced': {{'$ne': True}}}}) == 1
    """)
    assert completed.returncode == 0, completed.stderr


WITHOUT_DEMO_EXTRA = """
    import sys
    sys.modules['mongomock'] = sys.modules['litemongo'] = None  # as if neither were installed
    from tracos_integration.tracos.resource import MongoResource
    try:
        MongoResource(uri=sys.argv[1] if len(sys.argv) > 1 else {uri!r}).get_collection()
    except Exception as error:
        print(type(error).__name__, error)
"""


def test_a_demo_store_without_the_demo_extra_fails_with_one_line_saying_to_install_it(tmp_path):
    for uri, package in (("mongomock://demo", "mongomock"), (f"embedded://{tmp_path}/tracos.json", "litemongo")):
        completed = run_python(WITHOUT_DEMO_EXTRA.format(uri=uri))
        assert completed.returncode == 0, completed.stderr
        scheme = uri.split("//")[0]
        assert completed.stdout == (
            f"UnusableMongoUri MONGO_URI {scheme}// needs the project's demo extra, and {package} is not installed: "
            "install it (pip install '.[demo]' in the project folder; make install does) or use a mongodb:// URI\n"
        )


def test_a_run_on_a_demo_store_without_the_demo_extra_fails_its_first_step_with_that_line(tmp_path):
    for side in ("inbound", "outbound"):
        (tmp_path / side).mkdir()
    completed = run_python("""
        import sys
        sys.modules['mongomock'] = sys.modules['litemongo'] = None
        import dagster as dg
        from tracos_integration.definitions import defs
        result = defs.get_job_def('sync_job').execute_in_process(raise_on_error=False, instance=dg.DagsterInstance.ephemeral())
        failure = result.failure_data_for_node('apply_inbound_files')
        print(failure.user_failure_data.description if failure and failure.user_failure_data else failure)
    """, MONGO_URI=f"embedded://{tmp_path}/tracos.json", DATA_INBOUND_DIR=str(tmp_path / "inbound"),
        DATA_OUTBOUND_DIR=str(tmp_path / "outbound"), DAGSTER_HOME=str(tmp_path))
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.splitlines()[-1] == (
        "MONGO_URI embedded:// needs the project's demo extra, and litemongo is not installed: install it "
        "(pip install '.[demo]' in the project folder; make install does) or use a mongodb:// URI. "
        "Nothing was read or written."
    )
