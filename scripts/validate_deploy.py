"""Validate the deployment files offline: ``make deploy-lint`` runs it in ``.venv-deploy``.

For every overlay under ``k8s/overlays/``: render it with ``kubectl kustomize`` (its secrets are
throwaway values made by ``scripts/k8s_secrets.sh`` in a temporary copy, never the files an
operator keeps in ``secrets/``), validate the result with ``kubernetes-validate --strict``
against every Kubernetes version in :data:`KUBERNETES_VERSIONS`, and lint it with checkov
(``k8s/.checkov.yaml``: the skipped checks and their reasons). Then check that no secret file is
tracked by git, and that ``docker-compose.yml`` is valid (``docker-compose config -q``).

A missing ``kubectl`` or ``docker-compose`` skips its part with a notice, unless
``SPECIMEN_TEST_REQUIRE_SERVICES=1`` (CI), where it is a failure.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
K8S = ROOT / "k8s"
COMPOSE_FILE = ROOT / "docker-compose.yml"
CHECKOV_CONFIG = K8S / ".checkov.yaml"
SECRETS_SCRIPT = ROOT / "scripts" / "k8s_secrets.sh"

KUBERNETES_VERSIONS = ("1.34.0", "1.35.0", "1.36.0", "1.37.0")
"""The minor versions released in the year before this list was last reviewed (1.35 to 1.37),
and 1.34, the oldest one upstream still patched then; kubernetes-validate 1.37 ships their schemas."""

MINIMUM_KUBECTL_MINOR = 27
"""kubectl 1.27 embeds kustomize 5, which the kustomizations need (``labels``, regex targets)."""

# Stand-ins for the values `k8s_secrets.sh prod` takes from the operator.
PROD_PLACEHOLDERS = {
    f"SPECIMEN_{service}_DATABASE_URL":
        f"postgresql+psycopg://specimen_{service.lower()}:validation-only@db.invalid:5432/specimen_{service.lower()}"
    for service in ("USERS", "SEGMENT", "CLASSIFY")
}
REQUIRED_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*):?\?")


@dataclass
class Report:
    failures: list[str] = field(default_factory=list)
    skips: list[str] = field(default_factory=list)
    require_tools: bool = os.environ.get("SPECIMEN_TEST_REQUIRE_SERVICES") == "1"

    def ok(self, message: str) -> None:
        print(f"  ok    {message}", flush=True)

    def fail(self, message: str, detail: str = "") -> None:
        print(f"  FAIL  {message}", flush=True)
        if detail:
            print("        " + detail.strip().replace("\n", "\n        "), flush=True)
        self.failures.append(message)

    def missing_tool(self, tool: str, how: str) -> None:
        message = f"{tool} not found: {how}"
        if self.require_tools:
            self.fail(message + " (required: SPECIMEN_TEST_REQUIRE_SERVICES=1)")
        else:
            print(f"  SKIP  {message}", flush=True)
            self.skips.append(message)


def run(command: list[str], *, stdin: str | None = None,
        env: dict[str, str] | None = None, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, input=stdin, capture_output=True, text=True, env=env, cwd=cwd,
                          check=False)


def tool(name: str) -> str | None:
    """The tool from PATH, or from the venv this script runs in (kubernetes-validate, checkov)."""
    beside = Path(sys.executable).parent / name
    return str(beside) if beside.exists() else shutil.which(name)


def overlays() -> list[Path]:
    return sorted(path.parent for path in (K8S / "overlays").glob("*/kustomization.yaml"))


def secret_files(kustomization: Path) -> list[Path]:
    """Every file the overlay's secretGenerator reads."""
    document = yaml.safe_load(kustomization.read_text())
    paths = []
    for generator in document.get("secretGenerator", []):
        for source in [*generator.get("files", []), *generator.get("envs", [])]:
            paths.append(kustomization.parent / source.split("=", 1)[-1])
    return paths


def check_secrets_untracked(report: Report) -> None:
    """No file of an overlay's secrets/ but its .gitignore is in git."""
    print("secrets are not committed", flush=True)
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        print("  SKIP  not a git checkout", flush=True)
        return
    listed = run(["git", "ls-files", "--", "k8s"])
    tracked = [line for line in listed.stdout.splitlines()
               if "/secrets/" in line and not line.endswith("/.gitignore")]
    if listed.returncode != 0:
        report.fail("git ls-files k8s", listed.stderr)
    elif tracked:
        report.fail("secret files are tracked by git: " + ", ".join(tracked))
    else:
        report.ok("no file under k8s/overlays/*/secrets/ is tracked (only .gitignore)")


def kubectl_usable(report: Report) -> str | None:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        report.missing_tool("kubectl", "install kubectl >= 1.27 to render the overlays (kubernetes.io/"
                            "docs/tasks/tools; Debian's kubernetes-client is too old)")
        return None
    version = run([kubectl, "version", "--client", "-o", "json"])
    try:
        versions = json.loads(version.stdout)
        client = versions["clientVersion"]
        minor = int(re.sub(r"\D.*", "", client["minor"]))
    except (ValueError, KeyError):
        report.fail("kubectl version --client", version.stdout + version.stderr)
        return None
    if minor < MINIMUM_KUBECTL_MINOR:
        report.fail(f"kubectl {client['gitVersion']} is older than 1.{MINIMUM_KUBECTL_MINOR} "
                    "(kustomize 5 is needed)")
        return None
    print(f"  kubectl {client['gitVersion']}, kustomize {versions.get('kustomizeVersion', '?')}")
    return kubectl


def render(overlay: Path, kubectl: str, scratch: Path, report: Report) -> str | None:
    """``kubectl kustomize`` of a copy of k8s/ whose secrets are throwaway values."""
    copy = scratch / overlay.name / "k8s"
    shutil.copytree(K8S, copy, ignore=lambda directory, names:
                    [name for name in names if Path(directory).name == "secrets" and name != ".gitignore"])
    copied = copy / "overlays" / overlay.name
    if overlay.name in ("dev", "prod"):
        made = run(["bash", str(SECRETS_SCRIPT), overlay.name, str(copied / "secrets")],
                   env={**os.environ, **PROD_PLACEHOLDERS})
        if made.returncode != 0:
            report.fail(f"{overlay.name}: scripts/k8s_secrets.sh {overlay.name}", made.stdout + made.stderr)
            return None
    for path in secret_files(copied / "kustomization.yaml"):
        if not path.exists():  # an overlay the script does not know: any value renders
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("placeholder=validation-only\n" if path.suffix == ".env" else "validation-only")
    rendered = run([kubectl, "kustomize", str(copied)])
    if rendered.returncode != 0:
        report.fail(f"{overlay.name}: kubectl kustomize", rendered.stderr)
        return None
    return rendered.stdout


def validate_schemas(name: str, manifests: str, report: Report) -> None:
    validator = tool("kubernetes-validate")
    if validator is None:
        report.fail("kubernetes-validate not found: run `make deploy-lint` (it installs .venv-deploy)")
        return
    expected = sum(1 for document in yaml.safe_load_all(manifests) if document)
    for version in KUBERNETES_VERSIONS:
        # One run per version: the manifests arrive on stdin, which can be read once.
        result = run([validator, "--strict", "-k", version, "-"], stdin=manifests)
        passed = sum(1 for line in result.stdout.splitlines() if " passed for resource " in line)
        problems = [line for line in (result.stdout + result.stderr).splitlines()
                    if line and " passed for resource " not in line]
        if result.returncode != 0 or passed != expected or problems:
            report.fail(f"{name}: kubernetes-validate --strict -k {version} "
                        f"({passed}/{expected} resources passed)", "\n".join(problems))
        else:
            report.ok(f"{name}: {passed} resources valid against Kubernetes {version} (strict)")


def lint_policies(name: str, manifests_file: Path, report: Report) -> None:
    checkov = tool("checkov")
    if checkov is None:
        report.fail("checkov not found: run `make deploy-lint` (it installs .venv-deploy)")
        return
    result = run([checkov, "--config-file", str(CHECKOV_CONFIG), "-f", str(manifests_file),
                  "-o", "json"], env={**os.environ, "LOG_LEVEL": "ERROR"})
    try:
        document = json.loads(result.stdout)
    except json.JSONDecodeError:
        report.fail(f"{name}: checkov", result.stdout[-2000:] + result.stderr[-2000:])
        return
    documents = document if isinstance(document, list) else [document]
    summary = {"passed": 0, "failed": 0, "skipped": 0, "parsing_errors": 0}
    failed, skipped = [], []
    for part in documents:
        if "summary" not in part:
            continue
        for key in summary:
            summary[key] += part["summary"].get(key, 0)
        results = part.get("results", {})
        failed += [f"{check['check_id']} {check['resource']}: {check['check_name']}"
                   for check in results.get("failed_checks", [])]
        skipped += [(check["check_id"], check["resource"], check["check_result"].get("suppress_comment", ""))
                    for check in results.get("skipped_checks", [])]
    if failed or summary["parsing_errors"] or result.returncode not in (0, 1):
        report.fail(f"{name}: checkov found {len(failed)} failing check(s), {summary['parsing_errors']} "
                    "parsing error(s)", "\n".join(failed) or result.stderr[-2000:])
        return
    if summary["passed"] == 0:
        report.fail(f"{name}: checkov ran no check", result.stderr[-2000:])
        return
    report.ok(f"{name}: checkov {summary['passed']} passed, 0 failed, "
              f"{summary['skipped']} skipped by annotation:")
    for check_id, reason in sorted({(check_id, reason) for check_id, _, reason in skipped}):
        resources = [resource for cid, resource, why in skipped if (cid, why) == (check_id, reason)]
        print(f"          {check_id} on {len(resources)} resource(s): {reason}")


def validate_kubernetes(report: Report) -> None:
    print("Kubernetes overlays", flush=True)
    kubectl = kubectl_usable(report)
    if kubectl is None:
        return
    config = yaml.safe_load(CHECKOV_CONFIG.read_text())
    skipped_everywhere = ", ".join(config.get("skip-check", [])) or "none"
    print(f"  checks skipped for every resource (reasons in k8s/.checkov.yaml): {skipped_everywhere}")
    with tempfile.TemporaryDirectory(prefix="specimen-deploy-lint-") as scratch_dir:
        scratch = Path(scratch_dir)
        for overlay in overlays():
            manifests = render(overlay, kubectl, scratch, report)
            if manifests is None:
                continue
            manifests_file = scratch / f"{overlay.name}.yaml"
            manifests_file.write_text(manifests)
            validate_schemas(overlay.name, manifests, report)
            lint_policies(overlay.name, manifests_file, report)


def validate_compose(report: Report) -> None:
    print("docker-compose.yml", flush=True)
    compose = shutil.which("docker-compose")
    if compose is None:
        report.missing_tool("docker-compose", "install it (Debian: apt-get install docker-compose)")
        return
    text = COMPOSE_FILE.read_text()
    required = sorted(set(REQUIRED_VARIABLE.findall(text)))
    base_env = {key: value for key, value in os.environ.items() if key not in required}
    with tempfile.TemporaryDirectory(prefix="specimen-compose-lint-") as scratch:
        # An empty env file: a developer's .env must not change the verdict.
        env_file = Path(scratch) / "empty.env"
        env_file.write_text("")
        command = [compose, "--project-directory", str(ROOT), "--env-file", str(env_file),
                   "-f", str(COMPOSE_FILE), "config", "-q"]
        placeholders = dict.fromkeys(required, "validation-placeholder")
        result = run(command, env={**base_env, **placeholders})
        if result.returncode != 0:
            report.fail("docker-compose config -q", result.stdout + result.stderr)
            return
        report.ok("docker-compose config -q"
                  + (f" (with the required values {', '.join(required)} set)" if required else ""))
        if required:
            refused = run(command, env=base_env)
            if refused.returncode == 0:
                report.fail("docker-compose config accepted a missing required value")
            else:
                report.ok("docker-compose refuses to run without the required values")


def main() -> int:
    report = Report()
    check_secrets_untracked(report)
    validate_kubernetes(report)
    validate_compose(report)
    print()
    if report.skips:
        print("skipped (SPECIMEN_TEST_REQUIRE_SERVICES=1 makes these failures):")
        for skip in report.skips:
            print(f"  {skip}")
    if report.failures:
        print(f"deploy-lint FAILED: {len(report.failures)} problem(s)")
        return 1
    print("deploy-lint passed" + (" (with skips)" if report.skips else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
