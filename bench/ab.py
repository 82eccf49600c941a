#!/usr/bin/env python3
"""A/B of two norma-bench binaries on this noisy machine: both run alternately in one loop, the one
that goes first swapping every round (whichever runs second measured ~5% slower in A-vs-A controls),
and the medians of each case's "of limit" (or latency) are compared.

    python3 bench/ab.py A_BENCH B_BENCH ROUNDS FILTER [FILTER ...]
"""
import collections
import json
import statistics
import subprocess
import sys


def run(exe, filt):
    out = subprocess.run([exe, '--json', '--reps', '11', '--filter', filt], capture_output=True, text=True,
                         check=True).stdout
    for c in json.loads(out):
        value = c.get('of_limit', c.get('latency_us'))
        if value is not None:
            yield (c['op'], c['dtype'], c['shape']), value


def main():
    if len(sys.argv) < 5:
        sys.exit(__doc__)
    a, b, rounds, filters = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4:]
    res = {a: collections.defaultdict(list), b: collections.defaultdict(list)}
    for r in range(rounds):
        for exe in ((a, b) if r % 2 == 0 else (b, a)):
            for f in filters:
                for key, value in run(exe, f):
                    res[exe][key].append(value)
    for key in res[a]:
        ma, mb = statistics.median(res[a][key]), statistics.median(res[b][key])
        print('%-36s %-5s %-22s A %6.3f  B %6.3f  B/A %5.2f' % (key[0], key[1], key[2], ma, mb, mb / ma))


if __name__ == '__main__':
    main()
