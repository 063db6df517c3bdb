"""The docs name what the code has: every `code`-quoted Python name or dotted path, file
path, environment variable and make target in the README and docs/*.md exists in the tree,
and the deployment docs claim the limits the instance configs set."""

import ast
import importlib
import re
import subprocess
from functools import cache
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# Code and configuration a name may live in (tests included: the docs name test files and fixtures).
CODE_SUFFIXES = (".py", ".yaml", ".yml", ".toml", ".cfg", ".js", ".example")
CODE_NAMES = ("Makefile", "Dockerfile", ".ci/run")
FILE_SUFFIXES = (
    "py", "yaml", "yml", "json", "md", "toml", "cfg", "js", "png", "lock", "csv", "txt", "example", "imported",
)

# Quoted words that are not names in this repository: values, other projects' names, UI labels.
NOT_CODE = {
    # other projects' modules, classes and options, named where the docs explain them
    "mongomock-ng", "litemongo==0.2.0", "dist-info", "parse_userinfo", "dagster/dagster", "dagster/partition",
    "dagsterWebserver", "dagsterDaemon", "dagsterApiGrpcArgs", "postgresql.enabled", "envSecrets",
    "dagster-user-deployments", "runLauncher.type", "renameat2", "RENAME_NOREPLACE", "socketTimeoutMS",
    "serverSelectionTimeoutMS", "connectTimeoutMS", "retryWrites", "retryReads", "appName", "tz_aware",
    "proxyPassword", "tlsCertificateKeyFilePassword", "authMechanismProperties", "DATETIME_AUTO",
    "partialFilterExpression", "index_information", "count_documents", "insert_many", "update_one", "find_one",
    "bulk_write", "batch_size", "keyPattern", "keyValue", "writeConcernErrors", "enableTestCommands=1",
    "os.scandir", "os.replace", "pymongo.timeout", "urllib.parse.quote_plus", "DatetimeMS",
    "in_process_executor", "ConfigurableResource", "ResourceDependency[ClientFolder]", "RunRequest(partition_key=...)",
    "K8sRunLauncher", "DockerRunLauncher", "QueuedRunCoordinator", "applyLimitPerUniqueValue",
    "postgresqlHost", "delete_*", "team:integrations",
    "resources.client_folder.config", "resources.mongo.config",  # where a run's config holds its customer's entry
    "FreshnessPolicy",  # Dagster's, named where the README says why it is not used
    "expression_algo.cpp",  # the MongoDB server's source file for the planner's rule
    "database.collection", "tractian/workorders_acme", "/tmp/x",  # examples of MongoDB names and paths
    "EXPORT.CSV", "orders.JSON",  # examples of client file names
    # folders and files made at run time (gitignored), and example file names
    "processed/", "failed/", "data/inbound/processed/", ".tracos/tracos/", "tracos_integration_tests/artifacts/",
    "tracos_integration_tests/artifacts/screenshots/", "failed/x.json", "failed/x.json.error.json",
    "a.1.json.error.json", ".venv/install.log",
    "/data", "/tmp", "/secrets/sftp",  # paths inside a container or pod
    "k8sRunLauncher.envSecrets",  # the Helm chart's value
    "../shared/CONTRACT.md",  # the behaviour contract, beside the clone ".dagster_home/quiet.yaml",
    "project.license",  # setuptools' name for the pyproject key
}


def code_spans(text: str) -> list[str]:
    """Inline `code` outside fenced blocks, then the calls a plain fenced block (a diagram,
    no language) names: `Class.method(` and `module.function`."""
    prose, diagrams, fence = [], [], None
    for line in text.splitlines():
        if line.startswith("```"):
            fence = None if fence is not None else line[3:].strip()
            continue
        if fence is None:
            prose.append(line)
        elif fence == "":
            diagrams.append(line)
    spans = [span.strip() for span in re.findall(r"`([^`\n]+)`", "\n".join(prose))]
    spans += [name for name in re.findall(r"(?<![\w./])([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+)(?=[(\s])", "\n".join(diagrams))
              if name.rsplit(".", 1)[1] not in FILE_SUFFIXES]
    return spans


@cache
def tracked_files() -> tuple[str, ...]:
    listed = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return tuple(name for name in listed.splitlines() if (ROOT / name).exists())


@cache
def code_text() -> str:
    return "\n".join(
        (ROOT / name).read_text(errors="replace") for name in tracked_files()
        if (name.endswith(CODE_SUFFIXES) or name in CODE_NAMES) and not name.endswith("test_docs_truth.py")
    )


@cache
def python_index() -> dict[str, dict[str, set[str]]]:
    """module dotted name -> {"": its top-level names, class name: the class's members}."""
    index: dict[str, dict[str, set[str]]] = {}
    for name in tracked_files():
        if not name.endswith(".py"):
            continue
        module = name[:-3].replace("/", ".").removesuffix(".__init__")
        tree = ast.parse((ROOT / name).read_text())
        names: dict[str, set[str]] = {"": set()}
        for node in tree.body:
            for defined in _defined(node):
                names[""].add(defined)
            if isinstance(node, ast.ClassDef):
                names[node.name] = {member for child in node.body for member in _defined(child)}
        index[module] = names
    return index


def _defined(node: ast.AST) -> list[str]:
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return [node.name]
    if isinstance(node, ast.Assign):
        return [target.id for target in node.targets if isinstance(target, ast.Name)]
    if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
        return [node.target.id]
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        return [(alias.asname or alias.name).split(".")[0] for alias in node.names]
    return []


def python_name_exists(dotted: str) -> bool:
    """`module.name`, `Class.member`, `module.Class.member`, with the module named by any
    tail of its dotted path (`queries.find_by_numbers`, `core.rules.decide`)."""
    parts = dotted.split(".")
    for module, names in python_index().items():
        module_parts = module.split(".")
        for split in range(len(parts) - 1, 0, -1):
            head, rest = parts[:split], parts[split:]
            if module_parts[-len(head):] != head:
                continue
            if len(rest) == 1 and any(rest[0] in members for members in names.values()):
                return True  # a top-level name, or a method of one of the module's classes
            if len(rest) == 2 and rest[1] in names.get(rest[0], set()):
                return True
            if len(rest) == 1 and f"{module}.{rest[0]}" in python_index():
                return True
        if len(parts) == 2 and parts[1] in names.get(parts[0], set()):
            return True
        if len(parts) > 1 and module_parts[-len(parts):] == parts:
            return True
    try:  # a library's name, as the docs quote it
        return bool(importlib.import_module(dotted))
    except ImportError:
        return False


def make_targets() -> set[str]:
    text = (ROOT / "Makefile").read_text()
    return set(re.findall(r"^([\w.-]+):(?!=)", text, flags=re.M))


def path_exists(path: str) -> bool:
    """A file or folder of the tree, named from the root or from a package folder."""
    path = path.rstrip("/").removeprefix("./")
    return any(name == path or name.endswith("/" + path) or f"/{path}/" in f"/{name}" for name in tracked_files())


last_test_file = [""]
ENV = re.compile(r"^([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)(=.*)?$")
DOTTED = re.compile(r"^[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+$")
IDENTIFIER = re.compile(r"^(?:[a-z]+_[a-z0-9_]+|[a-z]+[A-Z]\w*|[A-Z][a-z]+[A-Z]\w*)$")
PATH = re.compile(r"^[\w.\-/]+$")


def problem(span: str) -> str | None:
    """Why a quoted name is not in the tree, or None."""
    span = re.sub(r"\(\)$", "", span)
    if span in NOT_CODE:
        return None
    if span.startswith("make "):
        target = span.split()[1]
        return None if target in make_targets() else f"make target {target!r} is not in the Makefile"
    if "::" in span:
        path, test = span.split("::", 1)
        path = path or last_test_file[0]  # `::name` continues the file quoted before it
        last_test_file[0] = path
        found = [name for name in tracked_files() if name == path or name.endswith("/" + path)]
        if not found:
            return f"{path} does not exist"
        defined = any(re.search(rf"def {re.escape(test)}\b", (ROOT / name).read_text()) for name in found)
        return None if defined else f"{test} is not in {path}"
    if match := ENV.match(span):
        variable = match.group(1)
        return None if re.search(rf"\b{variable}\b", code_text()) else f"variable {variable} is not read by the code"
    if "://" in span or "<" in span or "*" in span or " " in span:
        return None  # a URI, a placeholder or a phrase: not a name
    if DOTTED.match(span) and span.rsplit(".", 1)[1] not in FILE_SUFFIXES:
        return None if python_name_exists(span) else f"{span} is not defined in the code"
    if PATH.match(span) and ("/" in span or span.rsplit(".", 1)[-1] in FILE_SUFFIXES and "." in span):
        as_key = "[" + ", ".join(f'"{part}"' for part in span.split("/")) + "]"
        if path_exists(span) or any(f"{quote}{span}{quote}" in code_text() for quote in "\"'") or as_key in code_text():
            return None  # a file or folder, or a name the code writes (a tag, an asset key)
        return f"{span} is neither a file of the tree nor a name in the code"
    if IDENTIFIER.match(span):
        return None if re.search(rf"\b{span}\b", code_text()) else f"{span} is not a name in the code"
    return None


def test_every_quoted_name_in_the_docs_exists_in_the_code():
    problems = [
        f"{doc.relative_to(ROOT)}: `{span}`: {why}"
        for doc in DOCS for span in dict.fromkeys(code_spans(doc.read_text())) if (why := problem(span))
    ]
    assert problems == [], "\n".join(problems)


def test_the_checker_catches_a_removed_function_a_missing_file_and_an_unknown_variable():
    assert problem("ClientFolder.write") is not None and problem("ClientFolder.hold") is None
    assert problem("queries.find_by_numbers") is None and problem("queries.find_by_number") is not None
    assert problem("deploy/dagster.yaml") is None and problem("deploy/dagster.yml") is not None
    assert problem("TRACOS_CUSTOMERS_FILE") is None and problem("TRACOS_CUSTOMER_FILE") is not None
    assert problem("make run") is None and problem("make start") is not None


def instance_limits(path: str) -> list[dict]:
    return yaml.safe_load((ROOT / path).read_text())["concurrency"]["runs"]["tag_concurrency_limits"]


def test_the_kubernetes_page_sets_the_run_queue_limits_of_the_deployment_instance():
    page = (ROOT / "docs" / "deployment-kubernetes.md").read_text()
    values = yaml.safe_load(re.search(r"```yaml\n(.*?)```", page, flags=re.S).group(1))
    helm = values["dagsterDaemon"]["runCoordinator"]["config"]["queuedRunCoordinator"]["tagConcurrencyLimits"]
    assert helm == instance_limits("deploy/dagster.yaml") == instance_limits("dagster.yaml")


def test_the_readme_states_the_instances_run_queue_limits():
    readme = (ROOT / "README.md").read_text()
    assert instance_limits("dagster.yaml") and "no run-queue limits" not in readme
    for path in ("dagster.yaml", "deploy/dagster.yaml"):
        runs = yaml.safe_load((ROOT / path).read_text())["concurrency"]["runs"]
        assert f"max_concurrent_runs: {runs['max_concurrent_runs']}" in readme, path
