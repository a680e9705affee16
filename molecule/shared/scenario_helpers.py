"""Helpers shared by the scenarios' testinfra tests.

The shared Molecule configuration (.config/molecule/config.yml) puts
molecule/shared on the verifier's PYTHONPATH. Molecule hands the tests its
inventory in MOLECULE_INVENTORY_FILE, the scenario's name in
MOLECULE_SCENARIO_NAME and its scratch directory (keys and CAs that prepare
made) in MOLECULE_EPHEMERAL_DIRECTORY.
"""

import contextlib
import json
import os
import shlex
import subprocess
import tempfile
import time

import jwt
import testinfra

EPHEMERAL = os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY", "")
# Where prepare (molecule/shared/tasks/gateway_secrets.yml) left the token issuer's keys.
JWT_DIR = os.path.join(EPHEMERAL, "jwt")
ISS, AUD = "https://auth.llmsec.test", "llmsec-gateway"
# Each gateway host's CA certificate, copied to clients under PKI/<host>/ca.crt.
PKI = "/opt/pki"
SIGNING_KEYS = {"ed-2026": ("ed.key", "EdDSA"), "es-2026": ("es.key", "ES256"), "hs-legacy": ("hs.secret", "HS256")}


def inventory_host(host_name):
    """A testinfra host from the scenario's inventory, for hosts the test is not parametrized over."""
    return testinfra.get_host("ansible://" + host_name, ansible_inventory=os.environ["MOLECULE_INVENTORY_FILE"])


def name(host):
    return host.backend.get_hostname()


def unit_status(host, unit):
    """/proc/<MainPID>/status of a running systemd unit as a dict (NoNewPrivs, Seccomp, CapEff, Uid...)."""
    pid = host.check_output("systemctl show --property=MainPID --value %s", unit)
    assert pid != "0", "%s is not running" % unit
    text = host.check_output("cat /proc/%s/status", pid)
    return dict(line.split(":\t", 1) for line in text.splitlines() if ":\t" in line)


APPLY_ROLE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "apply_role.yml")


def run_role(host, extra_vars, args=(), role=None):
    """Apply a role (by default the scenario's namesake) to this host only, with extra vars (and
    ansible-playbook args such as --check); never raises."""
    role = role or "llmsec.hardening." + os.environ["MOLECULE_SCENARIO_NAME"]
    extra_vars = dict(extra_vars, role_under_test=role)
    return subprocess.run(
        ["ansible-playbook", "-i", os.environ["MOLECULE_INVENTORY_FILE"], "--limit", name(host),
         APPLY_ROLE, "-e", json.dumps(extra_vars)] + list(args),
        capture_output=True, text=True, env=os.environ, timeout=600, check=False)


PLAYBOOKS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "playbooks")


def run_playbook(playbook, limit, extra_vars, args=()):
    """Run one of the collection's playbooks (playbooks/<playbook>.yml) on the scenario's inventory, limited to
    some hosts; never raises."""
    return subprocess.run(
        ["ansible-playbook", "-i", os.environ["MOLECULE_INVENTORY_FILE"], "--limit", limit,
         os.path.join(PLAYBOOKS, playbook + ".yml"), "-e", json.dumps(extra_vars)] + list(args),
        capture_output=True, text=True, env=os.environ, timeout=900, check=False)


def approver_keys(*who):
    """Each approver's ed25519 key, made once on the controller (approvers hold theirs on their own machines):
    {name: (private key path, public key line)}."""
    directory = os.path.join(EPHEMERAL, "approvers")
    os.makedirs(directory, exist_ok=True)
    keys = {}
    for person in who:
        path = os.path.join(directory, person)
        if not os.path.exists(path):
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", person, "-f", path], check=True)
        with open(path + ".pub", encoding="utf-8") as handle:
            keys[person] = (path, handle.read().strip())
    return keys


def sign_lock(keys, text, *who):
    """Each approver signs the lock's exact text (ssh-keygen -Y sign -n llmsec-model-lock): armored signatures."""
    out = []
    with tempfile.TemporaryDirectory() as scratch:
        lock = os.path.join(scratch, "models.lock.yml")
        with open(lock, "w", encoding="utf-8") as handle:
            handle.write(text)
        for person in who:
            subprocess.run(["ssh-keygen", "-Y", "sign", "-f", keys[person][0], "-n", "llmsec-model-lock", lock],
                           check=True, capture_output=True)
            with open(lock + ".sig", encoding="utf-8") as handle:
                out.append(handle.read())
            os.unlink(lock + ".sig")
    return out


def allowed_signers(keys, *who):
    """model_integrity_allowed_signers for these approvers, as <name>@example.com."""
    return [{"principal": "%s@example.com" % person, "key": keys[person][1]} for person in who]


class _CaseResult:
    """One case of refusals(): the shape of run_role's result, so that assert_refused reads both."""

    def __init__(self, refused, stdout):
        self.returncode = 1 if refused else 0
        self.stdout = stdout
        self.stderr = ""


def refusals(host, cases, role=None):
    """Apply a role once per case (a dict of variables) in ONE ansible-playbook run, each case in its own
    play with its variables as play vars and the role in a block whose rescue records the refusal: a bad
    input costs one role start, not one Ansible start with its fact gathering. Returns {case key: result}
    (key: case_key(variables)), each result readable by assert_refused with the case's output only.
    Only for input that must be refused: a case the role accepts changes the host like run_role would."""
    role = role or "llmsec.hardening." + os.environ["MOLECULE_SCENARIO_NAME"]
    plays = [{"name": "facts", "hosts": "all:!clients", "gather_facts": True, "gather_subset": ["min"],
              "tasks": []}]
    for index, variables in enumerate(cases):
        plays.append({
            "name": "refusal case %d" % index, "hosts": "all:!clients", "gather_facts": False,
            "vars": variables,
            "tasks": [{"name": "case %d" % index,
                       "block": [{"name": "Apply the role", "ansible.builtin.include_role": {"name": role}},
                                 {"name": "Accepted", "ansible.builtin.debug": {"msg": "llmsec-case: accepted"}}],
                       # The failed task's result, in this case's part of stdout (Ansible prints a rescued
                       # failure on stderr, where the cases cannot be told apart).
                       "rescue": [{"name": "Refused", "ansible.builtin.debug": {"msg": "llmsec-case: refused"}},
                                  {"name": "Why", "ansible.builtin.debug": {"var": "ansible_failed_result"}}]}]})
    with tempfile.NamedTemporaryFile("w", suffix=".yml", prefix="refusals-", dir=EPHEMERAL or None,
                                     delete=False) as playbook:
        json.dump(plays, playbook)
    try:
        result = subprocess.run(
            ["ansible-playbook", "-i", os.environ["MOLECULE_INVENTORY_FILE"], "--limit", name(host), playbook.name],
            capture_output=True, text=True, env=os.environ, timeout=900, check=False)
    finally:
        os.unlink(playbook.name)
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    outputs = result.stdout.split("PLAY [refusal case ")[1:]
    assert len(outputs) == len(cases), result.stdout[-3000:]
    return dict((case_key(variables), _CaseResult('"llmsec-case: refused"' in output, output))
                for variables, output in zip(cases, outputs))


def case_key(variables):
    return json.dumps(variables, sort_keys=True)


class Refusals:
    """refusals() of (variables, message) cases between two readings of what the role must leave alone
    (state: a function that reads it)."""

    def __init__(self, host, cases, state, role=None):
        self.before = state()
        self.results = refusals(host, [variables for variables, _message in cases], role)
        self.after = state()

    def check(self, variables, message):
        """This case was refused in words that name the variable, and no case changed what state() reads."""
        assert_refused(self.results[case_key(variables)], message)
        assert self.after == self.before


def ansible_module(host, module, args=None):
    """The JSON result of one module run on one inventory host (a name or a testinfra host), asserted ok."""
    target = host if isinstance(host, str) else name(host)
    result = subprocess.run(["ansible", "-i", os.environ["MOLECULE_INVENTORY_FILE"], target, "-m", module, "-o"]
                            + (["-a", json.dumps(args)] if args else []),
                            capture_output=True, text=True, env=os.environ, check=False)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    return json.loads(result.stdout.split(" => ", 1)[1])


def module_runs(host, calls):
    """The results of several module runs [(module, args), ...] on one host, in order, from ONE ansible-playbook
    (one connection start, which is most of a module's time on the VM); every run asserted ok."""
    tasks = [{"name": "call %d" % index, module: args, "register": "__call_%d" % index}
             for index, (module, args) in enumerate(calls)]
    with tempfile.NamedTemporaryFile("w", suffix=".json", prefix="module-runs-", dir=EPHEMERAL or None,
                                     delete=False) as out:
        pass
    tasks.append({"name": "results", "delegate_to": "localhost", "ansible.builtin.copy": {
        "dest": out.name, "mode": "0600",
        "content": "{{ [%s] | to_json }}" % ", ".join("__call_%d" % i for i in range(len(calls)))}})
    with tempfile.NamedTemporaryFile("w", suffix=".yml", prefix="module-runs-", dir=EPHEMERAL or None,
                                     delete=False) as playbook:
        json.dump([{"name": "module runs", "hosts": name(host) if not isinstance(host, str) else host,
                    "gather_facts": False, "tasks": tasks}], playbook)
    try:
        result = subprocess.run(["ansible-playbook", "-i", os.environ["MOLECULE_INVENTORY_FILE"], playbook.name],
                                capture_output=True, text=True, env=os.environ, timeout=900, check=False)
        assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
        with open(out.name, encoding="utf-8") as handle:
            return json.load(handle)
    finally:
        os.unlink(playbook.name)
        os.unlink(out.name)


def local_ai_findings(host):
    """The local_ai_facts findings of a host, by kind (the audit's and the monitoring timer's view)."""
    findings = {}
    for item in ansible_module(host, "llmsec.hardening.local_ai_facts")["ansible_facts"]["local_ai"]["findings"]:
        findings.setdefault(item["kind"], []).append(item)
    return findings


def assert_refused(result, message):
    """The run failed, and said why in words that name the variable."""
    assert result.returncode != 0, result.stdout[-2000:]
    assert message in result.stdout + result.stderr, (result.stdout + result.stderr)[-3000:]


def wait_for(predicate, timeout=90, what="condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return
        time.sleep(2)
    raise AssertionError("timed out after %ss waiting for %s" % (timeout, what))


SHARED = os.path.dirname(os.path.abspath(__file__))


def https(client, url, cacert, *args):
    """(HTTP status, lowercased headers, body) of one curl request from a client container; status 0 when no
    HTTP answer came."""
    cmd = ["curl", "-sS", "--max-time", "20", "--cacert", cacert, "-D", "/dev/stderr",
           "-w", "\n%{http_code}"] + list(args) + [url]
    result = client.run(" ".join(shlex.quote(part) for part in cmd))
    body, _sep, status = result.stdout.rpartition("\n")
    return int(status or 0), result.stderr.lower(), body


def copy_stream_probe(container, script="stream_probe.py"):
    """Put a probe script of molecule/shared (stream_probe.py, burst_probe.py) on a client container in /opt."""
    subprocess.run(["docker", "cp", os.path.join(SHARED, script), container + ":/opt/" + script], check=True)


def probe(client, script, *args):
    out = client.check_output("python3 -W ignore /opt/%s %s" % (script, " ".join(shlex.quote(a) for a in args)))
    return json.loads(out)


def assert_streamed(result):
    """Lines arrived one by one as the stand-in produced them (6 chunks, 0.3 s apart), not in one buffered lump."""
    times = result["times"]
    assert result["status"] == 200, result
    assert len(times) >= 6, times
    assert times[-1] - times[0] >= 1.0, times
    assert sum(1 for a, b in zip(times, times[1:]) if b - a >= 0.15) >= 4, times


def read_secret(name):
    """A file prepare wrote into the scenario's jwt directory (signing keys, the audit HMAC key)."""
    with open(os.path.join(JWT_DIR, name), "rb") as handle:
        return handle.read()


def token(role="inference_consumer", subject="alice", kid="ed-2026", key=None, alg=None, ttl=600, **changes):
    """A token from the test issuer; claims set to None are left out, other keyword arguments override claims."""
    now = int(time.time())
    claims = {"iss": ISS, "sub": subject, "aud": AUD, "iat": now, "nbf": now, "exp": now + ttl,
              "jti": "%s-%d" % (subject, now), "role": role}
    claims.update(changes)
    claims = {claim: value for claim, value in claims.items() if value is not None}
    if key is None:
        path, alg = SIGNING_KEYS[kid]
        key = read_secret(path).strip() if alg == "HS256" else read_secret(path)
    return jwt.encode(claims, key, algorithm=alg, headers={"kid": kid} if kid else None)


# The Ollama stand-in (tests/ollama_standin), to copy onto a host.
STANDIN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "ollama_standin", "ollama")


def standin_api(host, port, path, body=None):
    """One request to an Ollama (stand-in) on the host's loopback, made on the host with its python3: POST with a
    JSON body, else GET. The testinfra result (stdout: the answer)."""
    code = ("import json, sys, urllib.request; r = urllib.request.urlopen(urllib.request.Request("
            "'http://127.0.0.1:%d%s', data=%r, method=%r), timeout=60); sys.stdout.write(r.read().decode())"
            % (port, path, json.dumps(body).encode() if body is not None else None, "POST" if body else "GET"))
    return host.run("python3 -c \"%s\"" % code.replace('"', '\\"'))


def serve_standin(host, unit, port, models, home, properties=""):
    """Start the stand-in (installed as /usr/bin/ollama) as the ollama user under systemd-run, on loopback port
    `port` with its store at `models`, and wait until it answers. properties: more systemd-run options."""
    host.check_output("systemd-run --unit=%s -p User=ollama -p Group=ollama %s -E HOME=%s -E OLLAMA_MODELS=%s "
                      "-E OLLAMA_HOST=127.0.0.1:%d /usr/bin/ollama serve" % (unit, properties, home, models, port))
    wait_for(lambda: standin_api(host, port, "/api/version").rc == 0, what="the stand-in (%s)" % unit)


CHANGE_WINDOW = "/var/lib/llmsec/change-window.json"


def open_change_window(host, minutes=120, change="CHG-tests", opened=None):
    """Open a model change window on a host as playbooks/model_change.yml's first step does (the file only: the
    gateway's model routes); opened in the past makes one whose deadline may have passed."""
    opened = int(time.time()) if opened is None else opened
    text = json.dumps({"change": change, "opened_by": "tests", "opened": opened, "until": opened + minutes * 60})
    host.run_test("install -d -m 0755 /var/lib/llmsec && printf '%%s\\n' %s > %s && chmod 0644 %s",
                  text, CHANGE_WINDOW, CHANGE_WINDOW)


def close_change_window(host):
    host.run_test("rm -f %s", CHANGE_WINDOW)


def install_ca_certificates(client, servers):
    """Put each server's CA certificate on a client container, at PKI/<server>/ca.crt."""
    for server in servers:
        subprocess.run(["docker", "exec", client, "mkdir", "-p", "%s/%s" % (PKI, server)], check=True)
        subprocess.run(["docker", "cp", os.path.join(EPHEMERAL, "pki", server, "ca.crt"),
                        "%s:%s/%s/ca.crt" % (client, PKI, server)], check=True)


def call(client, server, path, bearer=None, body=None, method=None, *extra):
    """(status, headers, body) of one HTTPS request from a client to a server's front door, checked against
    the server's CA; body is sent as JSON (a str as it is)."""
    args = list(extra)
    if bearer:
        args += ["-H", "Authorization: Bearer " + bearer]
    if body is not None:
        args += ["-H", "Content-Type: application/json", "-d", body if isinstance(body, str) else json.dumps(body)]
    if method:
        args += ["-X", method]
    return https(client, "https://%s%s" % (server, path), "%s/%s/ca.crt" % (PKI, server), *args)


@contextlib.contextmanager
def flipped_blob(host, store, backup="/root/flip-backup"):
    """The largest blob of a model store with the byte in its middle flipped, size and mtime kept (only the
    digest can tell); the original is put back when the block ends, however it ends. Yields the blob's path."""
    blob = host.check_output("ls -S %s/blobs/sha256-* | head -1" % store)
    host.check_output("cp -p %s %s" % (blob, backup))
    try:
        host.check_output(
            "python3 -c \"import os,sys; p=sys.argv[1]; s=os.stat(p); f=open(p,'r+b'); f.seek(s.st_size//2); "
            "b=f.read(1); f.seek(s.st_size//2); f.write(bytes([b[0]^1])); f.close(); "
            "os.utime(p, ns=(s.st_atime_ns, s.st_mtime_ns))\" %s" % blob)
        yield blob
    finally:
        host.check_output("cp -p %s %s && rm -f %s" % (backup, blob, backup))
