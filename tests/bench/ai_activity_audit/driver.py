"""One measurement of the ai_activity_audit benchmark, run in the VM as root (python3 driver.py SPEC_JSON).

The spec names the user, the load (load.py's arguments) and the consumer's entry point and configuration. The
driver lets the audit log settle, runs the load as the user, waits until auditd has written everything (the log
stops growing), then runs the consumer once over what was written. Prints, as JSON: the load's wall time, the
audit records written and their bytes, auditd's CPU seconds over the load and the drain, the events the kernel
lost, and the consumer's CPU seconds and the events it counted.
"""

import json
import os
import re
import resource
import subprocess
import sys
import time

LOG = "/var/log/audit/audit.log"


def auditd_cpu():
    with open("/var/run/auditd.pid", encoding="ascii") as handle:
        pid = int(handle.read().strip())
    with open("/proc/%d/stat" % pid, encoding="ascii") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def lost():
    out = subprocess.run(["auditctl", "-s"], capture_output=True, text=True, check=True).stdout
    return int(re.search(r"^lost (\d+)$", out, re.M).group(1))


def settle():
    """Wait until the audit log has not grown for a second."""
    size = -1
    while True:
        now = os.stat(LOG).st_size
        if now == size:
            return now
        size = now
        time.sleep(1)


def consumer(spec):
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run([spec["consumer"], spec["config"]], capture_output=True, text=True, check=True).stdout
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    report = json.loads(out.strip().splitlines()[-1])
    return after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime, sum(report["new"].values())


def main(spec):
    consumer(spec)  # past whatever came before
    start_size, start_lost, start_cpu = settle(), lost(), auditd_cpu()
    # The interpreter by its path: runuser's search of PATH would be failed execs of the user, audited.
    load = subprocess.run(["runuser", "-u", spec["user"], "--", "/usr/bin/python3", spec["load"]] + spec["args"],
                          capture_output=True, text=True, check=True)
    end_size = settle()
    result = {"seconds": json.loads(load.stdout)["seconds"], "auditd_cpu": auditd_cpu() - start_cpu,
              "lost": lost() - start_lost, "log_bytes": end_size - start_size}
    with open(LOG, "rb") as handle:
        handle.seek(start_size)
        result["records"] = handle.read(end_size - start_size).count(b"\n")
    result["consumer_cpu"], result["events"] = consumer(spec)
    print(json.dumps(result))


if __name__ == "__main__":
    main(json.loads(sys.argv[1]))
