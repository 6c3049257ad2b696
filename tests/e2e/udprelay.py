#!/usr/bin/python3
"""A one-client UDP relay that behaves like a NAT: what the client sends to LISTEN goes on to
TARGET from the relay's own outside socket, and the answers come back. On SIGUSR1 it
rebinds, as a NAT that forgets a mapping does: a new outside socket (a new source port), the
old one closed. On SIGTERM it prints its counters as one line and exits.

Usage: udprelay.py LISTEN_HOST:PORT TARGET_HOST:PORT [MAX_SECONDS]
"""
import selectors
import signal
import socket
import sys
import time


def addr(s):
    host, port = s.rsplit(":", 1)
    return host.strip("[]"), int(port)


def main():
    listen, target = addr(sys.argv[1]), addr(sys.argv[2])
    deadline = time.monotonic() + (float(sys.argv[3]) if len(sys.argv) > 3 else 300)
    inside = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    inside.bind(listen)
    state = {"outside": None, "client": None, "rebind": False, "stop": False}
    counts = {"rebinds": 0, "to_target": 0, "from_target": 0, "ports": []}
    sel = selectors.DefaultSelector()

    def new_outside():
        if state["outside"] is not None:
            sel.unregister(state["outside"])
            state["outside"].close()
        o = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        o.bind(("0.0.0.0", 0))
        state["outside"] = o
        counts["ports"].append(o.getsockname()[1])
        sel.register(o, selectors.EVENT_READ, "outside")

    signal.signal(signal.SIGUSR1, lambda *_: state.__setitem__("rebind", True))
    signal.signal(signal.SIGTERM, lambda *_: state.__setitem__("stop", True))
    sel.register(inside, selectors.EVENT_READ, "inside")
    new_outside()
    print("ready port=%d" % counts["ports"][0], flush=True)
    while not state["stop"] and time.monotonic() < deadline:
        if state["rebind"]:
            state["rebind"] = False
            counts["rebinds"] += 1
            new_outside()
            print("rebound port=%d" % counts["ports"][-1], flush=True)
        for key, _ in sel.select(timeout=0.2):
            try:
                if key.data == "inside":
                    data, state["client"] = inside.recvfrom(65535)
                    state["outside"].sendto(data, target)
                    counts["to_target"] += 1
                else:
                    data, src = state["outside"].recvfrom(65535)
                    if src[:2] == target and state["client"]:
                        inside.sendto(data, state["client"])
                        counts["from_target"] += 1
            except OSError:
                pass
    print("relay rebinds=%d to_target=%d from_target=%d ports=%s" % (
        counts["rebinds"], counts["to_target"], counts["from_target"],
        ",".join(map(str, counts["ports"]))), flush=True)


if __name__ == "__main__":
    main()
