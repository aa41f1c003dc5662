"""optibench's side of protocol `http`, run INSIDE the call's sandbox (PROTOCOL.md, "Protocol http").

The sandbox has its own network namespace (bubblewrap --unshare-net), so the evaluator outside cannot connect
to the solution's server. This driver, shipped by optibench and started as the sandbox's command, starts the
server, waits for GET /health, and talks to the evaluator over its stdin and stdout:

  driver -> evaluator   "ready\\n"                  the server answered /health with 200
  evaluator -> driver   "go <n>\\n" + n bytes        the request's payload, sent only now, so a server cannot
                                                     see its input (and precompute) before the clock starts
  driver -> evaluator   "done <status> <length>\\n"  the response is in the output file
  driver -> evaluator   "fail <reason>\\n"           the server died or never answered

The evaluator times from writing "go" to reading "done". The driver makes itself non-dumpable so the server,
which runs as the same uid, cannot open its /proc fds or memory to answer for it.
Usage: http-driver.py PHASE SHAPE OUTPUT CAP HEALTH_SECONDS -- COMMAND... (the driver adds --port P)
"""
import ctypes
import http.client
import os
import random
import subprocess
import sys
import time

PR_SET_DUMPABLE = 4


def say(line):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def main():
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
    except Exception:  # noqa: BLE001 - best effort; the evaluator's checks do not depend on it
        pass
    sep = sys.argv.index("--")
    phase, shape, output, cap, health_seconds = sys.argv[1:sep]
    cap = int(cap)
    command = sys.argv[sep + 1 :]
    port = random.randint(20000, 60000)
    # The server's stdout goes to stderr: stdout is the channel to the evaluator.
    server = subprocess.Popen(command + ["--port", str(port)], stdin=subprocess.DEVNULL, stdout=sys.stderr)
    deadline = time.monotonic() + float(health_seconds)
    while True:
        if server.poll() is not None:
            say("fail the server exited with code %d before answering /health" % server.returncode)
            return 1
        if time.monotonic() > deadline:
            say("fail the server did not answer GET /health with 200 within %s s" % health_seconds)
            return 1
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/health")
            if conn.getresponse().status == 200:
                conn.close()
                break
            conn.close()
        except OSError:
            pass
        time.sleep(0.02)
    say("ready")
    line = sys.stdin.buffer.readline().decode("ascii", "replace").split()
    if len(line) != 2 or line[0] != "go":
        say("fail no go from the evaluator")
        return 1
    payload = sys.stdin.buffer.read(int(line[1]))
    boundary = "optibench%016x" % random.getrandbits(64)
    body = b"".join(
        [
            ("--%s\r\nContent-Disposition: form-data; name=\"shape\"\r\n\r\n%s\r\n" % (boundary, shape)).encode(),
            ("--%s\r\nContent-Disposition: form-data; name=\"file\"; filename=\"data.bin\"\r\n" % boundary).encode(),
            b"Content-Type: application/octet-stream\r\n\r\n",
            payload,
            ("\r\n--%s--\r\n" % boundary).encode(),
        ]
    )
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port)
        conn.request("POST", "/" + phase, body=body, headers={"Content-Type": "multipart/form-data; boundary=" + boundary})
        response = conn.getresponse()
        data = response.read(cap + 1)
    except (OSError, http.client.HTTPException) as error:
        say("fail the request to /%s failed: %s" % (phase, str(error).replace("\n", " ")[:200]))
        return 1
    if len(data) > cap:
        say("fail the answer is longer than the %d bytes allowed" % cap)
        return 1
    with open(output, "wb") as f:
        f.write(data)
    say("done %d %d" % (response.status, len(data)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
