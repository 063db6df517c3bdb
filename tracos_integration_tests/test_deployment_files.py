"""docker-compose.yml, the Dockerfile and the instance configs parse and agree with each
other. No Docker engine runs here, so this is the check we can make."""

import shutil
from pathlib import Path

import dagster as dg
import yaml

ROOT = Path(__file__).resolve().parents[1]


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_compose_gives_mongodb_with_a_healthcheck_and_a_named_volume():
    document = compose()
    mongodb = document["services"]["mongodb"]
    assert mongodb["image"].startswith("mongo:") and "27017:27017" in mongodb["ports"]
    assert "mongosh" in " ".join(mongodb["healthcheck"]["test"])
    volume = mongodb["volumes"][0].split(":")[0]
    assert volume in document["volumes"]


def test_compose_runs_the_full_dagster_stack_on_port_3000():
    services = compose()["services"]
    assert {"mongodb", "postgres", "user_code", "webserver", "daemon"} <= set(services)
    assert "3000:3000" in services["webserver"]["ports"]
    assert services["daemon"]["command"][:2] == ["dagster-daemon", "run"]
    user_code = services["user_code"]
    assert user_code["build"] == "." and user_code["environment"]["MONGO_URI"].startswith("mongodb://mongodb:")
    assert user_code["depends_on"]["mongodb"]["condition"] == "service_healthy"
    assert "grpc-health-check" in user_code["healthcheck"]["test"]
    assert services["webserver"]["depends_on"]["user_code"]["condition"] == "service_healthy"
    for name in ("webserver", "daemon", "user_code"):
        assert services[name]["environment"]["DAGSTER_POSTGRES_HOST"] == "postgres"


def test_the_workspace_points_at_the_user_code_service():
    workspace = yaml.safe_load((ROOT / "deploy" / "workspace.yaml").read_text())
    server = workspace["load_from"][0]["grpc_server"]
    assert server["host"] == "user_code" and str(server["port"]) in compose()["services"]["user_code"]["command"]


def test_the_dockerfile_copies_files_that_exist():
    for line in (ROOT / "Dockerfile").read_text().splitlines():
        if line.startswith("COPY "):
            for source in line.split()[1:-1]:
                assert (ROOT / source).exists(), source


def test_local_dagster_yaml_is_a_valid_instance_config(tmp_path):
    shutil.copy(ROOT / "dagster.yaml", tmp_path / "dagster.yaml")
    with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
        assert not instance.run_retries_enabled  # MongoDB calls retry themselves; sensors start the next run


def test_compose_offers_a_replica_set_with_fail_points_for_the_server_behaviour_tests():
    service = compose()["services"]["mongodb-replset"]
    assert service["profiles"] == ["faults"]
    assert "--replSet" in service["command"] and "enableTestCommands=1" in service["command"]
    assert "rs.initiate" in " ".join(service["healthcheck"]["test"])
