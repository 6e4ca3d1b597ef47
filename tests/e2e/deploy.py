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

from harness import ROOT, RUNNER_TOTALS, finish, free_port, run, wait_port

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


def test_the_pods_command_line_with_the_secrets_variables_reaches_a_broker_with_a_password_file():
    """What the Secret gives a pod (MQTT_USERNAME and MQTT_PASSWORD from keys username and
    password), against a mosquitto that refuses anonymous clients."""
    job = load_job()
    container = job["spec"]["template"]["spec"]["containers"][0]
    secret_keys = {e["name"]: e["valueFrom"]["secretKeyRef"]["key"] for e in container["env"] if "valueFrom" in e}
    assert secret_keys == {"MQTT_USERNAME": "username", "MQTT_PASSWORD": "password"}, secret_keys
    work = os.path.join(ROOT, "target", "deploy-auth")
    os.makedirs(work, exist_ok=True)
    passwords = os.path.join(work, "passwords")
    if os.path.exists(passwords):
        os.remove(passwords)
    subprocess.run(["mosquitto_passwd", "-b", "-c", passwords, "fleet", "s3cret-pw"], check=True)
    os.chmod(passwords, 0o600)
    port = free_port()
    conf = os.path.join(work, "mosquitto.conf")
    with open(conf, "w") as f:
        f.write(f"user root\nlistener {port} 127.0.0.1\nallow_anonymous false\npassword_file {passwords}\n"
                f"log_dest file {work}/mosquitto.log\n")
    broker = subprocess.Popen(["/usr/sbin/mosquitto", "-c", conf], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_port(port)
        values = {e["name"]: e["value"] for e in container["env"] if "value" in e}
        values.update(BROKER=f"mqtt://127.0.0.1:{port}", DEVICES="40", SECONDS="2", JOB_COMPLETION_INDEX="0")
        args = [re.sub(r"\$\((\w+)\)", lambda m: values[m.group(1)], a) for a in container["args"]]
        base = {k: v for k, v in os.environ.items() if not k.startswith("MQTT_")}

        def pod(**secret):
            return subprocess.run([RUNNER, *args], capture_output=True, text=True, timeout=60, env={**base, **secret})

        right = pod(MQTT_USERNAME="fleet", MQTT_PASSWORD="s3cret-pw")
        assert right.returncode == 0, right.stderr
        samples, _, acked, dropped = map(int, RUNNER_TOTALS.search(right.stderr).groups())
        assert samples >= 2 and acked == samples and dropped == 0, right.stderr[-500:]
        wrong = pod(MQTT_USERNAME="fleet", MQTT_PASSWORD="wrong")
        assert wrong.returncode == 1 and "s3cret" not in wrong.stderr + wrong.stdout, wrong.stderr[-500:]
        # Without the user name a password is a bad setting: exit 2, nothing sent.
        alone = pod(MQTT_PASSWORD="s3cret-pw")
        assert alone.returncode == 2, alone.stderr
    finally:
        broker.terminate()
        broker.wait(10)
    return f"the Secret's user name and password: {samples} samples acknowledged; a wrong password refused (exit 1)"


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
        test_the_pods_command_line_with_the_secrets_variables_reaches_a_broker_with_a_password_file,
        test_the_dockerfile_builds_the_runner_from_paths_that_exist,
    ])
    finish("deploy", passed, failed)


if __name__ == "__main__":
    main()
