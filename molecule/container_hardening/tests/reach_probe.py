"""Run in a neighbour container (python3 - ADDRESS:PORT ... < this file): try a TCP connection to each, print
{target: "open" | errno name} as JSON. A connection that is neither accepted nor refused in 3 s is "timeout"."""

import errno
import json
import socket
import sys

result = {}
for target in sys.argv[1:]:
    address, port = target.rsplit(":", 1)
    try:
        socket.create_connection((address, int(port)), timeout=3).close()
        result[target] = "open"
    except socket.timeout:
        result[target] = "timeout"
    except OSError as exc:
        result[target] = errno.errorcode.get(exc.errno, str(exc))
print(json.dumps(result))
