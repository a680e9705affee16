"""The synthetic load of the ai_activity_audit benchmark, run in the VM as the user whose acts it imitates.

    python3 load.py read PATH N        open, read 64 KiB and close a file N times
    python3 load.py connect HOST:PORT N   connect to a listener and close N times

Prints {"seconds": wall time of the loop} as JSON.
"""

import json
import os
import socket
import sys
import time


def main(kind, target, count):
    start = time.perf_counter()
    if kind == "read":
        for _index in range(count):
            handle = os.open(target, os.O_RDONLY)
            os.read(handle, 65536)
            os.close(handle)
    elif kind == "connect":
        host, port = target.rsplit(":", 1)
        for _index in range(count):
            with socket.create_connection((host, int(port))):
                pass
    else:
        raise SystemExit("unknown load %s" % kind)
    print(json.dumps({"seconds": time.perf_counter() - start}))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
