"""The checkpoint at an organization's scale: its size, and the time to load and save it, at 100,000 and 1,000,000
keys (issue #19's targets: at most 20 bytes a key, under 1 s to load and save 1,000,000 keys).

The keys are laid out as an organization trail's lookback window: streams of one account and region, three days,
one file a stream about every five minutes (288 a day), named as CloudTrail names them. The previous format
(version 1: each day's keys as a list of names) is written and read the same way in turns with the current one,
so the ratio is from one run on one machine. A script, not a test:

    python bench/checkpoint.py                 # 100,000 and 1,000,000 keys, three turns
    python bench/checkpoint.py --keys 2400000  # an organization's day of 2.4 million files
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import tempfile
import time
from pathlib import Path
from typing import Any

from trailduck.state.checkpoint import Checkpoint
from trailduck.state.store import LocalStateStore
from trailduck.synthetic.events import rand_suffix
from trailduck.synthetic.generator import log_key

END = dt.date(2024, 3, 10)
DAYS = 3
PER_DAY = 288


def checkpoint_with(keys: int, seed: int = 19) -> Checkpoint:
    """A checkpoint holding ``keys`` keys over as many streams as it takes (17 regions an account)."""
    rng = random.Random(seed)
    cp = Checkpoint()
    regions = [
        f"{area}-{n}"
        for area in ("us-east", "us-west", "eu-west", "eu-central", "ap-south", "sa-east")
        for n in (1, 2, 3)
    ][:17]
    made = stream = 0
    while made < keys:
        account, region = f"{100000000000 + stream // 17:012d}", regions[stream % 17]
        state = cp.stream(f"AWSLogs/o-example/{account}/CloudTrail/{region}/")
        state.watermark = END - dt.timedelta(days=DAYS - 1)
        for offset in range(DAYS):
            day = END - dt.timedelta(days=offset)
            for i in range(min(PER_DAY, keys - made)):
                when = dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC) + dt.timedelta(minutes=5 * i)
                state.mark_done(day, log_key(account, region, when, rand_suffix(rng)).rsplit("/", 1)[1])
                made += 1
        stream += 1
    return cp


def version_1(cp: Checkpoint) -> dict[str, Any]:
    """The same checkpoint as version 1 wrote it: each day's keys a sorted list of names."""
    data = cp.to_json()
    data["version"] = 1
    for prefix, st in cp.streams.items():
        data["streams"][prefix]["days"] = {d.isoformat(): sorted(keys) for d, keys in sorted(st.days.items())}
    return data


def timed(fn: Any) -> tuple[float, Any]:
    started = time.perf_counter()
    result = fn()
    return time.perf_counter() - started, result


def measure(keys: int, turns: int, work: Path) -> dict[str, Any]:
    cp = checkpoint_with(keys)
    assert cp.key_count() == keys
    store = LocalStateStore(work / f"state-{keys}.json")
    old_path = work / f"state-{keys}-v1.json"
    old_doc = version_1(cp)
    new_times, old_times = [], []
    for _ in range(turns):  # taking turns: this machine's speed drifts within minutes
        save_s, _ = timed(lambda: store.save(cp))
        load_s, loaded = timed(store.load)
        new_times.append((save_s, load_s))
        assert loaded is not None and loaded.key_count() == keys
        save_s, _ = timed(lambda: old_path.write_text(json.dumps(old_doc, indent=1)))
        load_s, loaded = timed(lambda: Checkpoint.from_json(json.loads(old_path.read_text())))
        old_times.append((save_s, load_s))
        assert loaded.key_count() == keys
    new_size, old_size = store.path.stat().st_size, old_path.stat().st_size
    best_new = min(new_times, key=sum)
    best_old = min(old_times, key=sum)
    return {
        "keys": keys,
        "streams": len(cp.streams),
        "bytes": new_size,
        "bytes_per_key": new_size / keys,
        "save_s": best_new[0],
        "load_s": best_new[1],
        "v1_bytes": old_size,
        "v1_bytes_per_key": old_size / keys,
        "v1_save_s": best_old[0],
        "v1_load_s": best_old[1],
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--keys", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--turns", type=int, default=3)
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="trailduck-checkpoint-") as tmp:
        results = [measure(n, args.turns, Path(tmp)) for n in args.keys]
    for r in results:
        total, v1_total = r["save_s"] + r["load_s"], r["v1_save_s"] + r["v1_load_s"]
        print(
            f"{r['keys']:>9,} keys in {r['streams']:,} streams: {r['bytes'] / 2**20:6.1f} MiB, "
            f"{r['bytes_per_key']:5.1f} bytes a key (version 1: {r['v1_bytes'] / 2**20:.1f} MiB, "
            f"{r['v1_bytes_per_key']:.1f}); save {r['save_s']:.2f} s + load {r['load_s']:.2f} s = {total:.2f} s "
            f"(version 1: {v1_total:.2f} s, {v1_total / total:.1f}x); targets: <= 20 bytes "
            f"{'met' if r['bytes_per_key'] <= 20 else 'MISSED'}, < 1 s at 1M "
            f"{'met' if r['keys'] < 1_000_000 or total < 1 else 'MISSED'}"
        )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
