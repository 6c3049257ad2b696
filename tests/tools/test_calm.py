"""Unit tests of bench/calm.py, the rule by which the bench and tests/e2e/flood.sh set aside the
pings a host stall touched: /usr/bin/python3 -m unittest discover -s tests/tools"""
import os
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "bench"))
import calm  # noqa: E402

PING = """PING 10.0.0.1 (10.0.0.1) 56(84) bytes of data.
[100.010000] 64 bytes from 10.0.0.1: icmp_seq=1 ttl=64 time=0.200 ms
[100.030000] 64 bytes from 10.0.0.1: icmp_seq=2 ttl=64 time=5.00 ms
[100.030100] 64 bytes from 10.0.0.1: icmp_seq=2 ttl=64 time=5.10 ms (DUP!)
[100.030200] 64 bytes from 10.0.0.1: icmp_seq=2 ttl=64 time=5.20 ms
[100.200000] 64 bytes from 10.0.0.1: icmp_seq=3 ttl=64 time=0.300 ms
From 10.0.0.1 icmp_seq=4 Destination Host Unreachable
"""


class Calm(unittest.TestCase):
    def test_replies_first_of_each_sequence_number(self):
        self.assertEqual(calm.replies(PING), [(100.01, 0.2), (100.03, 5.0), (100.2, 0.3)])

    def test_stalls_keep_only_longer_than_min(self):
        rows = [(100.029, 3000.0), (100.5, 1500.0)]
        self.assertEqual(calm.stalls(rows, 2), [(100.029 - 0.003, 100.029)])

    def test_touched_window(self):
        # reply at 100.030 after 5 ms: the ping left at 100.025; the window opens pre_ms before
        spans = [(100.008, 100.0095)]
        self.assertTrue(calm.touched(100.030, 5.0, spans, 16))   # it ends after 100.030 - 0.021
        self.assertFalse(calm.touched(100.030, 5.0, spans, 10))  # and before 100.030 - 0.015
        self.assertTrue(calm.touched(100.030, 5.0, [(100.0305, 100.040)], 16))  # up to 1 ms after
        self.assertFalse(calm.touched(100.030, 5.0, [(100.0315, 100.040)], 16))

    def test_untouched_and_pct(self):
        reps = calm.replies(PING)
        spans = calm.stalls([(100.028, 3000.0)], 2)
        self.assertEqual(calm.untouched(reps, spans, 16), [0.2, 0.3])
        self.assertEqual(calm.untouched(reps, [], 16), [0.2, 0.3, 5.0])
        rtts = [float(i) for i in range(1, 201)]
        self.assertEqual(calm.pct(rtts, 0.99), 198.0)  # nearest rank as ping_summary: index 197
        self.assertEqual(calm.pct(rtts, 0.5), 100.0)

    def test_missing_record_excuses_nothing(self):
        self.assertEqual(calm.stall_rows("/nonexistent/stalls"), [])

    def test_command_line(self):
        with tempfile.TemporaryDirectory() as d:
            ping, st = os.path.join(d, "p"), os.path.join(d, "s")
            with open(ping, "w") as f:
                f.write(PING)
            with open(st, "w") as f:
                f.write("100.028 3000\n100.5 1500\n")
            out = subprocess.run([sys.executable, calm.__file__, "2", "16", ping, st],
                                 capture_output=True, text=True, check=True).stdout
            # one stall over 2 ms (3.0 the longest); untouched 0.2 and 0.3: max 0.3, p99 index 0
            self.assertEqual(out, "1 3.0 0.300 0.200\n")


if __name__ == "__main__":
    unittest.main()
