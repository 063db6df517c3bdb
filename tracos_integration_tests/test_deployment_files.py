"""docker-compose.yml, the Dockerfile and the instance configs parse and agree with each
other. No Docker engine runs here, so this is the check we can make."""

import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import dagster as dg
import yaml

ROOT = Path(__file__).resolve().parents[1]


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_compose_gives_mongodb_with_a_healthcheck_and_a_named_volume():
    document = compose()
    mongodb = document["services"]["mongodb"]
    assert mongodb["image"].startswith("mongo:") and "127.0.0.1:27017:27017" in mongodb["ports"]
    assert "mongosh" in " ".join(mongodb["healthcheck"]["test"])
    volume = mongodb["volumes"][0].split(":")[0]
    assert volume in document["volumes"]


def test_compose_runs_the_full_dagster_stack_on_port_3000():
    services = compose()["services"]
    assert {"mongodb", "postgres", "user_code", "webserver", "daemon"} <= set(services)
    assert "127.0.0.1:3000:3000" in services["webserver"]["ports"]
    assert services["daemon"]["command"][:2] == ["dagster-daemon", "run"]
    user_code = services["user_code"]
    assert user_code["build"] == "." and "@mongodb:27017/tractian" in user_code["environment"]["MONGO_URI"]
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


# Files a clone carries that configure a deployment: none may hold a password.
DEPLOYMENT_FILES = ["docker-compose.yml", "Dockerfile", "dagster.yaml", ".env.example", *(
    str(path.relative_to(ROOT)) for path in sorted((ROOT / "deploy").rglob("*")) if path.is_file()
), "docs/deployment-kubernetes.md"]
REQUIRED = re.compile(r"^\$\{(\w+):\?[^}]*\}$")  # ${VAR:?message}: compose refuses to start without it


def test_every_published_port_listens_on_localhost_only():
    published = {name: service.get("ports", []) for name, service in compose()["services"].items()}
    assert published["mongodb"] and published["webserver"]
    for name, ports in published.items():
        for port in ports:
            assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port} on every interface"


def test_no_password_is_written_in_a_committed_deployment_file():
    for name, service in compose()["services"].items():
        for variable, value in (service.get("environment") or {}).items():
            if re.search("PASSWORD|SECRET|TOKEN", variable):
                assert REQUIRED.match(str(value)), f"{name}: {variable} is written in docker-compose.yml"
            if str(value).startswith("mongodb") and "@" in str(value):  # user:password@ from .env only
                credentials = str(value).split("://", 1)[1].rsplit("@", 1)[0]
                assert re.fullmatch(r"\$\{\w+:\?[^}]*\}:\$\{\w+:\?[^}]*\}", credentials), f"{name}: {variable}"
    assignment = re.compile(r"(?i)(?<![{\w])\w*(password|passwd|pwd)\w*\b\s*[:=]\s*(\S*)")
    for relative in DEPLOYMENT_FILES:
        for number, line in enumerate((ROOT / relative).read_text().splitlines(), 1):
            for match in assignment.finditer(line.split("#", 1)[0] if not relative.endswith(".js") else line):
                value = match.group(2).strip("\"',")
                assert value in ("", "password", "user") or value.startswith(("${", "process.env")), (
                    f"{relative}:{number} writes a password: {line.strip()}"
                )
    assert "POSTGRES_PASSWORD: dagster" not in (ROOT / "docker-compose.yml").read_text()


def test_mongodb_requires_authentication_and_the_sync_connects_as_its_own_user():
    services = compose()["services"]
    mongodb = services["mongodb"]["environment"]
    # The image turns --auth on when a root user is given; both come from .env.
    assert REQUIRED.match(mongodb["MONGO_INITDB_ROOT_USERNAME"])
    assert REQUIRED.match(mongodb["MONGO_INITDB_ROOT_PASSWORD"])
    init = [volume for volume in services["mongodb"]["volumes"] if "/docker-entrypoint-initdb.d" in volume]
    assert init == ["./deploy/mongo-init:/docker-entrypoint-initdb.d:ro"]
    script = (ROOT / "deploy/mongo-init/create-sync-user.js").read_text()
    assert 'roles: [{ role: "readWrite", db: "tractian" }]' in script and "process.env.MONGO_SYNC_PASSWORD" in script
    for name in ("user_code", "daemon"):
        uri = services[name]["environment"]["MONGO_URI"]
        user = re.match(r"mongodb://\$\{(\w+):", uri)
        assert user and user.group(1) == "MONGO_SYNC_USER", f"{name} connects as {uri}, not as the sync user"


def test_env_example_lists_every_variable_compose_needs_and_env_is_never_committed():
    text = (ROOT / "docker-compose.yml").read_text()
    needed = set(re.findall(r"\$\{(\w+)[:?-]", text))
    example = {line.split("=", 1)[0] for line in (ROOT / ".env.example").read_text().splitlines()
               if line and not line.startswith("#")}
    assert needed - {"MONGO_SYNC_USER", "MONGO_SYNC_PASSWORD"} and needed <= example, needed - example
    assert ".env" in (ROOT / ".gitignore").read_text().splitlines()
    tracked = subprocess.run(["git", "ls-files", ".env"], cwd=ROOT, capture_output=True, text=True).stdout
    assert tracked == ""


def test_the_stack_hands_the_customers_file_to_the_code_and_the_daemon():
    services = compose()["services"]
    for name in ("user_code", "daemon"):
        assert "TRACOS_CUSTOMERS_FILE" in services[name]["environment"], name


def test_the_docker_run_launcher_joins_composes_network_from_an_image_that_has_dagster_docker():
    launcher = yaml.safe_load((ROOT / "deploy/run-launchers/docker.yaml").read_text())["run_launcher"]
    assert launcher["config"]["network"] == compose()["networks"]["default"]["name"]
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    installed = re.search(r'pip install "\.\[([\w,]+)\]"', (ROOT / "Dockerfile").read_text()).group(1).split(",")
    package = launcher["module"].replace("_", "-")
    assert any(requirement.startswith(package) for extra in installed for requirement in extras[extra])
    for variable in launcher["config"]["env_vars"]:
        assert variable in compose()["services"]["daemon"]["environment"], variable
