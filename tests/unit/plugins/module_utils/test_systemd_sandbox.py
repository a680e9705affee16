import pytest

from ansible_collections.llmsec.hardening.plugins.module_utils import systemd_sandbox as sb

SECURITY_OUT = """  NAME                 DESCRIPTION                                     EXPOSURE
✓ PrivateNetwork=      Service has no access to the host's network              0.5
→ Overall exposure level for ollama.service: 1.3 OK :-)
"""

STATUS = """Name:\tollama
Uid:\t999\t999\t999\t999
CapEff:\t0000000000000000
CapBnd:\t0000000000000400
NoNewPrivs:\t1
Seccomp:\t2
"""


def as_dict(pairs):
    result = {}
    for key, value in pairs:
        result.setdefault(key, []).append(value)
    return result


def test_default_sandbox_for_ollama():
    pairs = sb.directives(["/usr/share/ollama"], [])
    d = as_dict(pairs)
    assert d["NoNewPrivileges"] == ["yes"]
    # list directives are reset first, so that the unit file cannot add to them
    assert d["CapabilityBoundingSet"] == [""]
    assert d["AmbientCapabilities"] == [""]
    assert d["ReadWritePaths"] == ["", "-/usr/share/ollama"]
    assert d["NoExecPaths"] == ["", "-/usr/share/ollama"]
    assert d["ProtectSystem"] == ["strict"] and d["ProtectHome"] == ["yes"]
    assert d["PrivateDevices"] == ["yes"] and "DeviceAllow" not in d
    assert d["SystemCallFilter"] == ["", "@system-service @resources", "~@privileged"]
    assert d["RestrictAddressFamilies"] == ["", "AF_UNIX AF_INET AF_INET6 AF_NETLINK"]
    assert d["MemoryDenyWriteExecute"] == ["yes"]
    assert d["ProcSubset"] == ["all"]


def test_gpu_devices_keep_dev_but_close_the_policy():
    devices = sb.detect_devices(exists=lambda p: p in ("/dev/nvidiactl", "/dev/dri"))
    assert devices == ["char-nvidiactl rw", "char-nvidia-caps rw", "char-nvidia-frontend rw",
                       "char-nvidia-uvm rw", "char-drm rw"]
    d = as_dict(sb.directives(["/srv/m"], devices))
    assert d["PrivateDevices"] == ["no"]
    assert d["DevicePolicy"] == ["closed"]
    assert d["DeviceAllow"] == [""] + devices
    assert sb.detect_devices(exists=lambda p: False) == []


def test_capabilities_families_and_overrides():
    d = as_dict(sb.directives([], [], capabilities=["CAP_NET_BIND_SERVICE"], address_families=["AF_INET"],
                              overrides={"MemoryDenyWriteExecute": False, "ProtectClock": None,
                                         "SystemCallFilter": ["@system-service"], "IPAddressDeny": "any"}))
    assert d["CapabilityBoundingSet"] == ["", "CAP_NET_BIND_SERVICE"]
    assert d["AmbientCapabilities"] == ["", "CAP_NET_BIND_SERVICE"]
    assert d["RestrictAddressFamilies"] == ["", "AF_INET"]
    assert d["MemoryDenyWriteExecute"] == ["no"]
    assert "ProtectClock" not in d
    assert d["SystemCallFilter"] == ["", "@system-service"]
    assert d["IPAddressDeny"] == ["any"]
    # no writable paths: no ReadWritePaths beyond the reset
    assert d["ReadWritePaths"] == [""]


@pytest.mark.parametrize("kwargs", [
    {"capabilities": ["NET_ADMIN"]},
    {"capabilities": ["CAP_X; rm"]},
    {"address_families": []},
    {"address_families": ["inet"]},
])
def test_directives_refuse_bad_input(kwargs):
    with pytest.raises(sb.SandboxError):
        sb.directives(["/srv"], [], **kwargs)


@pytest.mark.parametrize("paths", [["relative"], ["/"], ["/a/../b"], ["/a b"], ["/x%n"], "/srv", [3]])
def test_check_paths_refuses(paths):
    with pytest.raises(sb.SandboxError, match="writable_paths"):
        sb.check_paths(paths, "writable_paths")


def test_check_paths_accepts():
    sb.check_paths(["/usr/share/ollama", "/srv/models"], "writable_paths")


@pytest.mark.parametrize("devices", ["auto", ["nvidia"], ["char-nvidiactl rwx"], ["/dev/x y"], [None]])
def test_check_devices_refuses(devices):
    with pytest.raises(sb.SandboxError, match="devices"):
        sb.check_devices(devices)


@pytest.mark.parametrize("overrides", [{"bad key": 1}, {"lower": 1}, {"NoNewPrivileges": "no\nUser=root"},
                                       {"X": {"a": 1}}, []])
def test_check_overrides_refuses(overrides):
    with pytest.raises(sb.SandboxError, match="overrides"):
        sb.check_overrides(overrides)


def test_root_users():
    assert sb.is_root_user("")
    assert sb.is_root_user("root")
    assert sb.is_root_user("0")
    assert not sb.is_root_user("ollama")
    assert not sb.is_root_user("", dynamic_user=True)


def test_default_writable_paths():
    assert sb.default_writable_paths("/usr/share/ollama", {}) == ["/usr/share/ollama"]
    assert sb.default_writable_paths("/usr/share/ollama", {"OLLAMA_MODELS": "/srv/models/"}) == [
        "/usr/share/ollama", "/srv/models"]
    # models inside the home: one path is enough
    assert sb.default_writable_paths("/usr/share/ollama", {
        "OLLAMA_MODELS": "/usr/share/ollama/.ollama/models"}) == ["/usr/share/ollama"]
    assert sb.default_writable_paths("/", {"OLLAMA_MODELS": "relative"}) == []


def test_home_under_home_stays_reachable():
    assert sb.home_is_protected(["/home/ollama"])
    assert sb.home_is_protected(["/root"])
    assert not sb.home_is_protected(["/usr/share/ollama", "/homework"])
    d = as_dict(sb.directives(["/home/ollama"], [], home_protected=True))
    assert d["ProtectHome"] == ["read-only"]


def test_render_dropin():
    text = sb.render_dropin([("NoNewPrivileges", "yes"), ("CapabilityBoundingSet", "")], "role x")
    assert text == ("# Managed by llmsec.hardening (role x). Local changes are overwritten on the next run.\n"
                    "[Service]\nNoNewPrivileges=yes\nCapabilityBoundingSet=\n")


def test_later_dropins_that_weaken_are_conflicts():
    own = "/etc/systemd/system/ollama.service.d/60-llmsec-sandbox.conf"
    texts = [
        ("/etc/systemd/system/ollama.service.d/50-llmsec-ollama-bind.conf", "[Service]\nNoNewPrivileges=no\n"),
        (own, "[Service]\nNoNewPrivileges=yes\n"),
        ("/etc/systemd/system/ollama.service.d/override.conf",
         "[Service]\n# NoNewPrivileges=no\nEnvironment=A=1\nNoNewPrivileges=no\n[Install]\nProtectSystem=no\n"),
    ]
    conflicts = sb.later_conflicts(texts, own, {"NoNewPrivileges", "ProtectSystem"})
    assert conflicts == [{"path": "/etc/systemd/system/ollama.service.d/override.conf", "line": 4,
                          "key": "NoNewPrivileges", "value": "no"}]


def test_parse_exposure_and_status():
    assert sb.parse_exposure(SECURITY_OUT) == 1.3
    with pytest.raises(sb.SandboxError):
        sb.parse_exposure("Unit ollama.service not found.")
    status = sb.parse_proc_status(STATUS)
    assert status == {"no_new_privs": True, "seccomp": 2, "cap_eff": 0, "cap_bnd": 0x400, "uid": 999}
    assert sb.parse_proc_status("")["no_new_privs"] is False


# --- the role's checks on the controller: the module's own functions --------------------------

ROLE_DEFAULTS = {"writable_paths": "auto", "devices": "auto", "overrides": {}, "capabilities": [],
                 "address_families": ["AF_UNIX", "AF_INET"], "max_exposure": 2.5, "start_timeout": 90}


def test_role_defaults_pass():
    assert sb.settings_errors(ROLE_DEFAULTS) == []
    assert sb.settings_errors(dict(ROLE_DEFAULTS, devices="none", writable_paths=["/srv/ai"],
                                   capabilities=["CAP_NET_BIND_SERVICE"], max_exposure="10")) == []


@pytest.mark.parametrize("change, message", [
    ({"writable_paths": ["relative/path"]}, "service_sandbox_writable_paths: 'relative/path' is not an absolute"),
    ({"writable_paths": ["/"]}, "service_sandbox_writable_paths: '/' cannot be used"),
    ({"writable_paths": "/srv"}, "service_sandbox_writable_paths must be a list"),
    ({"devices": "gpu"}, "service_sandbox_devices must be 'auto', 'none' or a list"),
    ({"devices": ["char-nvidiactl rwx"]}, "service_sandbox_devices: 'char-nvidiactl rwx' is not a DeviceAllow="),
    ({"overrides": {"no such": 1}}, "service_sandbox_overrides: 'no such' is not a systemd directive name"),
    ({"capabilities": ["SYS_ADMIN"]}, "service_sandbox_capabilities: 'SYS_ADMIN' is not a capability name"),
    ({"address_families": []}, "service_sandbox_address_families must not be empty"),
    ({"max_exposure": 11}, "service_sandbox_max_exposure must be a number from 0.0 to 10.0"),
    ({"max_exposure": "high"}, "service_sandbox_max_exposure must be a number"),
    ({"start_timeout": 0}, "service_sandbox_start_timeout must be at least 1 second"),
])
def test_each_broken_rule_names_its_variable(change, message):
    errors = sb.settings_errors(dict(ROLE_DEFAULTS, **change))
    assert len(errors) == 1 and errors[0].startswith(message), errors


def test_the_model_store_is_read_only_inside_a_writable_home():
    d = as_dict(sb.directives(["/usr/share/ollama"], [], read_only_paths=["/usr/share/ollama/.ollama/models"]))
    assert d["ReadWritePaths"] == ["", "-/usr/share/ollama"]
    assert d["ReadOnlyPaths"] == ["", "-/usr/share/ollama/.ollama/models"]
    # in maintenance: only the reset, and the store is writable with the rest of the home
    assert as_dict(sb.directives(["/usr/share/ollama"], []))["ReadOnlyPaths"] == [""]


@pytest.mark.parametrize("home,environment,expected", [
    ("/usr/share/ollama", {}, "/usr/share/ollama/.ollama/models"),
    ("/usr/share/ollama/", {"OLLAMA_MODELS": "/srv/models/"}, "/srv/models"),
    ("/usr/share/ollama", {"OLLAMA_MODELS": "'/srv/m'"}, "/srv/m"),       # envconfig strips quotes
    ("/usr/share/ollama", {"OLLAMA_MODELS": "relative"}, "/usr/share/ollama/.ollama/models"),
    ("", {}, None),
    ("/", {}, None),
])
def test_default_models_path(home, environment, expected):
    assert sb.default_models_path(home, environment) == expected
