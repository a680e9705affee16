"""Stand-in for the get-pip.py that ansible-test downloads to bootstrap pip
into its virtualenvs. That download host is not reachable here; Python's own
ensurepip plus the configured package index do the same job. ansible-test runs
this file as __main__ with pip's options and pinned packages (pip==...) as argv.
"""
import ensurepip
import os
import subprocess
import sys

ensurepip.bootstrap(upgrade=True)
# ensurepip points PIP_CONFIG_FILE at /dev/null; the install below must see
# the machine's pip configuration (index, certificates) again.
env = {key: value for key, value in os.environ.items() if key != "PIP_CONFIG_FILE"}
args = [arg for arg in sys.argv[1:] if arg not in ("--no-setuptools", "--no-wheel")]
sys.exit(subprocess.call([sys.executable, "-m", "pip", "install", "--quiet"] + args, env=env))
