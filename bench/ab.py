#!/usr/bin/env python3
"""A/B of two norma-bench binaries on this noisy machine.

    python3 bench/ab.py A_BENCH B_BENCH ROUNDS FILTER [FILTER ...]

Each round runs every filter with A and with B back to back (the one that goes first swapping every
round: whichever runs second measured ~5% slower in A-vs-A controls), so that the two measurements of a
case are seconds apart, not a whole sweep; the host's other tenants change its speed on that scale.
For each case: the medians of A's and B's "of limit" (or latency), and the median of the rounds' own
speed ratios B/A (> 1: B faster; for a latency, A's time over B's) with their quartiles: the number to
quote, the quartiles showing how far to trust it.
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


def quartiles(values):
    if len(values) < 2:
        return values[0], values[0]
    q = statistics.quantiles(values, n=4)
    return q[0], q[2]


def main():
    if len(sys.argv) < 5:
        sys.exit(__doc__)
    a, b, rounds, filters = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4:]
    res = {a: collections.defaultdict(list), b: collections.defaultdict(list)}
    ratios = collections.defaultdict(list)
    for r in range(rounds):
        for f in filters:
            got = {}
            for exe in ((a, b) if r % 2 == 0 else (b, a)):
                got[exe] = dict(run(exe, f))
                for key, value in got[exe].items():
                    res[exe][key].append(value)
            for key in got[a]:
                if key in got[b]:
                    # of limit: higher is better; latency: lower is better. Both as B's speed over A's.
                    latency = 'latency' in key[0]
                    ratios[key].append(got[a][key] / got[b][key] if latency else got[b][key] / got[a][key])
    for key in res[a]:
        ma, mb = statistics.median(res[a][key]), statistics.median(res[b][key])
        lo, hi = quartiles(ratios[key])
        print('%-36s %-5s %-22s A %6.3f  B %6.3f  B/A %5.2f  (quartiles %4.2f-%4.2f)' %
              (key[0], key[1], key[2], ma, mb, statistics.median(ratios[key]), lo, hi))


if __name__ == '__main__':
    main()
