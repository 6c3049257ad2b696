#!/usr/bin/python3
"""A file through the tunnel over TCP, checked byte for byte: iperf3 counts
bytes but never looks at them, so a segment cut, merged or checksummed
wrongly (and a partial checksum the receiving kernel trusts without
looking) would pass it unnoticed.

  xfer.py sink PORT SECONDS        accept one connection, read to its end;
                                   prints "bytes N sha256 HEX"
  xfer.py put HOST PORT FILE       connect and send FILE, then close
  xfer.py serve PORT FILE SECONDS  accept one connection, send FILE, close
  xfer.py get HOST PORT            connect and read to the end; prints as sink

Every socket operation has a timeout, and sink/serve wait SECONDS at most
for their connection: nothing here can hang."""
import hashlib
import socket
import sys

CHUNK = 1 << 16
IO_TIMEOUT = 20


def listen(port, seconds):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", port))
    s.listen(1)
    s.settimeout(seconds)
    conn, _ = s.accept()
    s.close()
    conn.settimeout(IO_TIMEOUT)
    return conn


def connect(host, port):
    return socket.create_connection((host, port), timeout=IO_TIMEOUT)


def drain(conn):
    h, n = hashlib.sha256(), 0
    while True:
        b = conn.recv(CHUNK)
        if not b:
            break
        h.update(b)
        n += len(b)
    conn.close()
    print("bytes %d sha256 %s" % (n, h.hexdigest()))


def send_file(conn, path):
    with open(path, "rb") as f:
        while True:
            b = f.read(CHUNK)
            if not b:
                break
            conn.sendall(b)
    conn.shutdown(socket.SHUT_WR)
    conn.close()


def main(argv):
    if len(argv) == 4 and argv[1] == "sink":
        drain(listen(int(argv[2]), float(argv[3])))
    elif len(argv) == 5 and argv[1] == "put":
        send_file(connect(argv[2], int(argv[3])), argv[4])
    elif len(argv) == 5 and argv[1] == "serve":
        send_file(listen(int(argv[2]), float(argv[4])), argv[3])
    elif len(argv) == 4 and argv[1] == "get":
        drain(connect(argv[2], int(argv[3])))
    else:
        sys.stderr.write(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
