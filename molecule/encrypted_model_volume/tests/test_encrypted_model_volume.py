"""Verify encrypted_model_volume inside a real kernel (qemu VM): LUKS2, read-only mounts, data safety, reboot."""

import os
import subprocess
import time

import pytest

from scenario_helpers import Refusals, case_key, inventory_host, run_role

VM = "llmsec-luks-vm"
TARGET = "/dev/disk/by-id/virtio-llmsec-disk1"
PRECIOUS = "/dev/disk/by-id/virtio-llmsec-disk2"
REPO = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..")

testinfra_hosts = ["ansible://" + VM]


def mount_options(host, path="/models"):
    return host.check_output("findmnt -no OPTIONS --mountpoint %s" % path).split(",")


def header(host, device=TARGET):
    """The LUKS header area, hashed: it must not change when the role refuses."""
    return host.check_output("head -c 16777216 %s | sha256sum" % device)


# --- converge --------------------------------------------------------------------------

def test_luks2_with_the_configured_cipher(host):
    dump = host.check_output("cryptsetup luksDump %s" % TARGET)
    assert "Version:       \t2" in dump
    assert "cipher: aes-xts-plain64" in dump
    assert "Key:        512 bits" in dump
    assert "PBKDF:      argon2id" in dump


def test_mapping_active_and_mounted_read_only(host):
    assert "is active" in host.check_output("cryptsetup status llmsec-models")
    assert host.check_output("findmnt -no SOURCE --mountpoint /models") == "/dev/mapper/llmsec-models"
    opts = mount_options(host)
    assert opts[0] == "ro" and {"nodev", "nosuid", "noexec"} <= set(opts)


def test_write_fails_with_erofs(host):
    out = host.run("touch /models/planted")
    assert out.rc != 0 and "Read-only file system" in out.stderr


def test_ollama_can_read(host):
    assert host.run("runuser -u ollama -- ls /models").rc == 0
    assert host.run("runuser -u nobody -- ls /models").rc != 0


def test_key_is_root_only(host):
    key = host.file("/etc/llmsec/keys/llmsec-models.key")
    assert key.user == "root" and key.mode == 0o400
    assert host.file("/etc/llmsec/keys").mode == 0o700


def test_boot_configuration(host):
    assert "llmsec-models UUID=" in host.file("/etc/crypttab").content_string
    assert "/models ext4 ro,nodev,nosuid,noexec,nofail" in host.file("/etc/fstab").content_string


# --- attacks and mistakes ------------------------------------------------------------------

PRECIOUS_CASE = ({"encrypted_model_volume_device": PRECIOUS, "encrypted_model_volume_name": "other",
                  "encrypted_model_volume_mount": "/other", "encrypted_model_volume_allow_format": True},
                 "Refusing to format %s" % PRECIOUS)
RAW_CASE = ({"encrypted_model_volume_device": "", "encrypted_model_volume_container_file": "/var/tmp/raw.img",
             "encrypted_model_volume_name": "raw", "encrypted_model_volume_mount": "/raw"},
            "data in its first MiB with no known signature")
EMPTY_CASE = ({"encrypted_model_volume_device": "", "encrypted_model_volume_container_file": "/var/tmp/empty.img",
               "encrypted_model_volume_allow_format": False, "encrypted_model_volume_name": "empty",
               "encrypted_model_volume_mount": "/empty"}, "Set encrypted_model_volume_allow_format: true")
WRONG_KEY_CASE = ({"encrypted_model_volume_keyfile_content": "not-the-key"}, "does not open %s" % TARGET)


@pytest.fixture(scope="module")
def refused(host):
    """Every refusal in one Ansible run (a role start each, not an Ansible start with fact gathering under TCG):
    a disk with a filesystem, a file of random bytes with no signature, an empty file without allow_format, the
    volume with a wrong key. None may change the random file or the volume's LUKS header."""
    host.check_output("truncate -s 16M /var/tmp/raw.img && head -c 4096 /dev/urandom | dd of=/var/tmp/raw.img"
                      " conv=notrunc status=none && truncate -s 32M /var/tmp/empty.img")
    return Refusals(host, [PRECIOUS_CASE, RAW_CASE, EMPTY_CASE, WRONG_KEY_CASE],
                    lambda: (host.check_output("sha256sum /var/tmp/raw.img"), header(host)))


def test_disk_with_data_refused_even_with_allow_format(host, refused):
    """disk2 holds ext4 with a model file: the role must refuse, and the file must be intact."""
    refused.check(*PRECIOUS_CASE)
    assert "TYPE=ext4" in refused.results[case_key(PRECIOUS_CASE[0])].stdout
    assert host.run("cryptsetup isLuks %s" % PRECIOUS).rc != 0
    host.check_output("mkdir -p /mnt/check && mount -o ro %s /mnt/check" % PRECIOUS)
    try:
        digest = host.check_output("sha256sum /mnt/check/model.gguf").split()[0]
    finally:
        host.run("umount /mnt/check")
    assert digest == host.file("/root/precious.sha256").content_string.strip()


def test_unknown_data_without_signature_refused(refused):
    """Random bytes with no signature (an overwritten header, a raw dump) are data too."""
    refused.check(*RAW_CASE)


def test_empty_disk_needs_allow_format(host, refused):
    refused.check(*EMPTY_CASE)
    assert host.run("cryptsetup isLuks /var/tmp/empty.img").rc != 0


def test_wrong_key_refused_and_volume_untouched(host, refused):
    refused.check(*WRONG_KEY_CASE)
    assert "is active" in host.check_output("cryptsetup status llmsec-models")
    # The refused run must not have left the wrong key behind either.
    host.check_output("cryptsetup open --test-passphrase --key-file /etc/llmsec/keys/llmsec-models.key %s" % TARGET)


def test_container_file_mode(host):
    extra = {"encrypted_model_volume_device": "", "encrypted_model_volume_container_file": "/var/lib/llmsec-models.luks",
             "encrypted_model_volume_container_size": "48M", "encrypted_model_volume_name": "llmsec-models-file",
             "encrypted_model_volume_mount": "/models-file"}
    result = run_role(host, extra)
    assert result.returncode == 0, result.stdout[-3000:]
    assert "is active" in host.check_output("cryptsetup status llmsec-models-file")
    assert "loop" in host.check_output("cryptsetup status llmsec-models-file")
    assert mount_options(host, "/models-file")[0] == "ro"
    assert "llmsec-models-file /var/lib/llmsec-models.luks" in host.file("/etc/crypttab").content_string
    again = run_role(host, extra)
    assert "changed=0" in again.stdout, again.stdout[-3000:]


def test_maintenance_then_read_only_again_then_key_rotation(host):
    """Maintenance opens the volume read-write; the run that closes it also takes step one of the README's
    rotation (a second key in a slot: one role run under TCG instead of two), then the new key becomes the main
    key with the old one kept in a slot; both open the volume, and no run adds a slot twice."""
    old = "molecule-test-key-not-a-secret-0123456789abcdef"  # molecule.yml
    new = "rotated-key-for-the-test-fedcba9876543210"
    result = run_role(host, {"encrypted_model_volume_maintenance": True})
    assert result.returncode == 0, result.stdout[-3000:]
    assert mount_options(host)[0] == "rw"
    host.check_output("head -c 65536 /dev/urandom > /models/new-model.gguf && chown ollama: /models/new-model.gguf")
    result = run_role(host, {"encrypted_model_volume_extra_keys": [new]})
    assert result.returncode == 0, result.stdout[-3000:]
    assert mount_options(host)[0] == "ro"
    assert host.run("runuser -u ollama -- cat /models/new-model.gguf > /dev/null").rc == 0
    assert host.check_output("cryptsetup luksDump %s | grep -c '^  [0-9]: luks2'" % TARGET) == "2"
    again = run_role(host, {"encrypted_model_volume_extra_keys": [new]})
    assert "changed=0" in again.stdout, again.stdout[-3000:]  # the slot is not added twice
    result = run_role(host, {"encrypted_model_volume_keyfile_content": new,
                             "encrypted_model_volume_extra_keys": [old]})
    assert result.returncode == 0, result.stdout[-3000:]
    assert host.file("/etc/llmsec/keys/llmsec-models.key").content_string == new
    assert host.check_output("cryptsetup luksDump %s | grep -c '^  [0-9]: luks2'" % TARGET) == "2"
    for key in (old, new):
        assert host.run("printf %%s %s | cryptsetup open --test-passphrase --key-file=- %s" % (key, TARGET)).rc == 0


# --- reboot (last: it restarts the VM) ------------------------------------------------------

def test_reboot_brings_both_volumes_back_read_only():
    host = inventory_host(VM)
    port = 22230  # create.yml
    boot_id = host.file("/proc/sys/kernel/random/boot_id").content_string
    # A transient timer's default accuracy is a minute: ask for the reboot now, not up to 60 s later.
    host.run("systemd-run --on-active=1 --timer-property=AccuracySec=100ms systemctl reboot")
    deadline = time.time() + 420
    up = False
    while time.time() < deadline:
        time.sleep(5)
        try:
            # Bounded: an SSH session caught by the reboot must not hang the loop.
            probe = subprocess.run([os.path.join(REPO, "tests", "harness", "vm.sh"), "ssh", str(port),
                                    "cat /proc/sys/kernel/random/boot_id"],
                                   capture_output=True, text=True, check=False, timeout=30)
        except subprocess.TimeoutExpired:
            continue
        if probe.returncode == 0 and probe.stdout.strip() and probe.stdout != boot_id:
            up = True
            break
    if not up:
        with open(os.path.join(REPO, ".build", "vm", VM, "console.log"), errors="replace") as console:
            tail = console.read()[-4000:]
        raise AssertionError("the VM did not come back within 420 s (TCG, sharing 2 cores with the other "
                             "scenarios); its console:\n" + tail)
    host = inventory_host(VM)
    for name, path in (("llmsec-models", "/models"), ("llmsec-models-file", "/models-file")):
        # SSH answers before the boot has opened and mounted everything; under TCG beside the other scenarios
        # (and every system call audited since test_ai_activity_audit.py) a minute was once not enough.
        deadline = time.time() + 240
        while time.time() < deadline and host.run("findmnt --mountpoint %s" % path).rc != 0:
            time.sleep(3)
        state = host.run("systemctl list-jobs --no-legend; systemctl --failed --no-legend; "
                         "journalctl -b --no-pager -u 'systemd-cryptsetup@*' -u '*.mount' | tail -n 40")
        assert "is active" in host.check_output("cryptsetup status %s" % name), state.stdout
        assert host.run("findmnt --mountpoint %s" % path).rc == 0, "%s not mounted:\n%s" % (path, state.stdout)
        assert mount_options(host, path)[0] == "ro", path
    assert host.run("touch /models/after-reboot").rc != 0
    # test_apparmor_profile.py left container_hardening's profile in /etc/apparmor.d: the boot loads it again.
    assert "llmsec-ollama (enforce)" in host.file("/sys/kernel/security/apparmor/profiles").content_string
    # test_ai_activity_audit.py left ai_activity_audit's rules in /etc/audit/rules.d: augenrules loads them at boot.
    rules = host.check_output("auditctl -l")
    assert "key=llmsec_model_read" in rules and "key=llmsec_ai_exec" in rules, rules
