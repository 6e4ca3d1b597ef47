#!/usr/bin/env python3
"""Offline checks of deploy/: the Kubernetes Indexed Job validated against the Kubernetes API
schema (kubernetes-validate, strict), its command line run for real (the runner with the Job's
arguments, its parameters filled in, against mosquitto), and the Dockerfile's paths checked
against the repository.

Usage: deploy.py RUNNER_BINARY MQTT_PORT
"""

import os
import re
import subprocess
import sys

from harness import ROOT, RUNNER_TOTALS, finish, run

RUNNER, MQTT_PORT = sys.argv[1], int(sys.argv[2])
K8S = os.path.join(ROOT, ".tools", "k8s")
JOB = os.path.join(ROOT, "deploy", "job.yaml")
DOCKERFILE = os.path.join(ROOT, "deploy", "Dockerfile")


def load_job():
    sys.path.insert(0, K8S)
    import yaml  # from .tools/k8s, installed with kubernetes-validate by scripts/setup.sh

    with open(JOB) as f:
        return yaml.safe_load(f)


def test_the_job_is_a_valid_indexed_job_of_20_slices():
    env = dict(os.environ, PYTHONPATH=K8S)
    check = subprocess.run([sys.executable, "-m", "kubernetes_validate", "--strict", JOB],
                           capture_output=True, text=True, env=env, timeout=120)
    assert check.returncode == 0, check.stdout + check.stderr
    # The validator can fail: a Job with a mode Kubernetes does not have, and a stray field.
    broken = os.path.join(ROOT, "target", "broken-job.yaml")
    with open(JOB) as f, open(broken, "w") as out:
        out.write(f.read().replace("completionMode: Indexed", "completionMode: Sideways\n  flavour: mint"))
    refused = subprocess.run([sys.executable, "-m", "kubernetes_validate", "--strict", broken],
                             capture_output=True, text=True, env=env, timeout=120)
    assert refused.returncode != 0, refused.stdout
    job = load_job()
    spec = job["spec"]
    container = spec["template"]["spec"]["containers"][0]
    values = {e["name"]: e["value"] for e in container["env"] if "value" in e}
    assert spec["completionMode"] == "Indexed"
    assert spec["completions"] == spec["parallelism"] == int(values["SHARDS"]) == 20
    assert int(values["DEVICES"]) == 100_000, "the README's 100,000 devices as 20 pods of 5,000"
    assert "$(JOB_COMPLETION_INDEX)/$(SHARDS)" in container["args"]
    return check.stdout.strip().splitlines()[-1] if check.stdout.strip() else "valid"


def test_the_jobs_command_line_runs_the_runner():
    container = load_job()["spec"]["template"]["spec"]["containers"][0]
    values = {e["name"]: e["value"] for e in container["env"] if "value" in e}
    # Pod 3 of 20, against this test's broker, a smaller fleet and a short run.
    values.update(BROKER=f"mqtt://127.0.0.1:{MQTT_PORT}", DEVICES="400", SECONDS="2", JOB_COMPLETION_INDEX="3")
    args = [re.sub(r"\$\((\w+)\)", lambda m: values[m.group(1)], a) for a in container["args"]]
    proc = subprocess.run([RUNNER, *args], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "devices 61..=80 of 400" in proc.stderr, proc.stderr
    totals = RUNNER_TOTALS.search(proc.stderr)
    assert totals, proc.stderr
    samples, _, acked, dropped = map(int, totals.groups())
    assert samples >= 20 and acked == samples and dropped == 0, totals.group(0)
    return f"pod 3 ran devices 61..80 of 400 for 2 s: {samples} samples, all acknowledged"


def test_the_dockerfile_builds_the_runner_from_paths_that_exist():
    with open(DOCKERFILE) as f:
        lines = [line.strip() for line in f if line.strip() and not line.startswith("#")]
    copies = [line.split()[1:] for line in lines if line.startswith("COPY") and "--from" not in line]
    for sources in copies:
        for source in sources[:-1]:
            assert os.path.exists(os.path.join(ROOT, source)), source
    with open(os.path.join(ROOT, "runner", "Cargo.toml")) as f:
        binary = re.search(r'\[\[bin\]\]\s*name = "([^"]+)"', f.read()).group(1)
    final = [line for line in lines if line.startswith("COPY --from=build")][0].split()
    assert final[2].endswith(f"/target/release/{binary}") and final[3].endswith(f"/{binary}"), final
    entry = [line for line in lines if line.startswith("ENTRYPOINT")][0]
    assert final[3] in entry, entry
    assert sum(line.startswith("FROM") for line in lines) == 2, "multi-stage"
    return f"2 stages, {sum(len(c) - 1 for c in copies)} sources present, binary {binary}"


def main():
    passed, failed = run([
        test_the_job_is_a_valid_indexed_job_of_20_slices,
        test_the_jobs_command_line_runs_the_runner,
        test_the_dockerfile_builds_the_runner_from_paths_that_exist,
    ])
    finish("deploy", passed, failed)


if __name__ == "__main__":
    main()
