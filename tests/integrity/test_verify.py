"""trailduck verify against trails signed the way CloudTrail signs them, with a key pair generated here.

Each test tampers with a generated trail the way an intruder (or a broken copy) would, and checks that exactly
that damage is reported, with the right status on the right key, and that everything else stays valid.
"""

from __future__ import annotations

import base64
import datetime as dt
import gzip
import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from trailduck.analysis.query import run_query
from trailduck.cli.app import app
from trailduck.ingestion.run import IngestOptions, ingest
from trailduck.integrity.digest import fetch_public_keys, find_key, string_to_sign
from trailduck.integrity.result import VerifyResult
from trailduck.integrity.verify import VerifyOptions, lake_hashes, verify
from trailduck.lake.folder import Lake
from trailduck.synthetic.generator import (
    Manifest,
    TrailSpec,
    encode_log,
    folder_sink,
    log_key,
    s3_sink,
    write_trail,
)
from trailduck.synthetic.signer import DigestChain, LogFileInfo, SigningKey, demo_signing_key

ACCOUNT = "111122223333"
REGION = "us-east-1"
END = dt.date(2024, 3, 10)


def spec(**kw: Any) -> TrailSpec:
    base: dict[str, Any] = {
        "accounts": [ACCOUNT],
        "org_id": None,
        "regions": [REGION],
        "end": END,
        "days": 2,
        "files_per_day": 6,
        "events_per_file": (2, 6),
        "insights": False,
        "signing_key": demo_signing_key(),
    }
    base.update(kw)
    return TrailSpec(**base)


class Trail:
    """A generated, signed trail in a folder, with the helpers to tamper with it."""

    def __init__(self, root: Path, manifest: Manifest) -> None:
        self.root = root
        self.manifest = manifest
        self.keys_file = root.parent / "public-keys.json"
        assert manifest.signing_key is not None
        self.keys_file.write_text(json.dumps(manifest.signing_key.public_key_list()))

    @property
    def digest_keys(self) -> list[str]:
        return sorted(self.manifest.digest_keys)

    @property
    def log_keys(self) -> list[str]:
        return sorted(k for k in self.manifest.keys if "/CloudTrail/" in k)

    def digest(self, key: str) -> dict[str, Any]:
        return json.loads(gzip.decompress((self.root / key).read_bytes()))

    def digest_of(self, log: str) -> str:
        """The digest that lists ``log``."""
        return next(k for k in self.digest_keys if log in {f["s3Object"] for f in self.digest(k)["logFiles"]})

    def covered_logs(self) -> list[str]:
        return [k for k in self.log_keys if any(k in self.listed_by(d) for d in self.digest_keys)]

    def listed_by(self, digest_key: str) -> set[str]:
        return {f["s3Object"] for f in self.digest(digest_key)["logFiles"]}

    def delete(self, key: str) -> None:
        (self.root / key).unlink()
        (self.root / (key + ".signature")).unlink(missing_ok=True)

    def run(self, **kw: Any) -> VerifyResult:
        return verify(VerifyOptions(source=str(self.root), public_keys=self.keys_file, **kw))


def statuses(result: VerifyResult) -> tuple[dict[str, str], dict[str, str]]:
    digests = {v.key: v.status for v in result.digests}
    logs = {v.key: v.status for v in result.log_files}
    assert len(digests) == len(result.digests), "one entry per digest"
    assert len(logs) == len(result.log_files), "one entry per log file"
    return digests, logs


def others(found: dict[str, str], *keys: str) -> set[str]:
    return {status for key, status in found.items() if key not in keys}


@pytest.fixture
def trail(tmp_path: Path) -> Trail:
    root = tmp_path / "bucket"
    manifest = write_trail(spec(), folder_sink(root))
    # Delivered after the last digest (23:00:30 on the last day), as on a live trail.
    late = log_key(
        ACCOUNT, REGION, dt.datetime.combine(END, dt.time(23, 41), tzinfo=dt.UTC), "JustDelivered001"
    )
    folder_sink(root)(late, encode_log([{"eventName": "Late", "eventTime": "2024-03-10T23:36:00Z"}]))
    manifest.keys.append(late)
    return Trail(root, manifest)


def test_an_untouched_trail_verifies_clean(trail: Trail) -> None:
    result = trail.run()
    digests, logs = statuses(result)
    assert set(digests) == set(trail.digest_keys)
    assert set(digests.values()) == {"valid"}
    assert set(logs) == set(trail.log_keys)
    covered = set(trail.covered_logs())
    assert {k for k, s in logs.items() if s == "valid"} == covered
    # The files delivered after the last digest (it ends at 23:00:30 on the last day) are not yet covered.
    assert {k for k, s in logs.items() if s == "not_yet_covered"} == set(trail.log_keys) - covered
    assert covered and covered != set(trail.log_keys)
    assert result.exit_code == 0


def test_the_first_digest_of_a_chain_and_empty_digests_are_valid(trail: Trail) -> None:
    first = trail.digest_keys[0]
    assert trail.digest(first)["previousDigestSignature"] is None
    empty = [k for k in trail.digest_keys if not trail.digest(k)["logFiles"]]
    assert empty, "hours without deliveries have digests with an empty logFiles"
    digests, _ = statuses(trail.run())
    assert digests[first] == "valid"
    assert {digests[k] for k in empty} == {"valid"}


def test_a_flipped_byte_in_a_log_file_is_a_hash_mismatch(trail: Trail) -> None:
    log = trail.covered_logs()[1]
    path = trail.root / log
    text = bytearray(gzip.decompress(path.read_bytes()))
    text[text.index(b'"eventName":"') + 13] ^= 0x01  # one letter of an event name: still valid JSON and gzip
    path.write_bytes(gzip.compress(bytes(text)))
    raw = trail.root / trail.covered_logs()[2]
    body = bytearray(raw.read_bytes())
    body[len(body) // 2] ^= 0xFF  # in the compressed stream: it no longer inflates (or fails its CRC)
    raw.write_bytes(bytes(body))
    result = trail.run()
    digests, logs = statuses(result)
    assert logs[log] == "hash_mismatch"
    assert logs[trail.covered_logs()[2]] == "hash_mismatch"
    assert others(logs, log, trail.covered_logs()[2]) <= {"valid", "not_yet_covered"}
    assert set(digests.values()) == {"valid"}
    detail = next(v.detail for v in result.log_files if v.key == log)
    assert trail.digest_of(log) in detail
    assert result.exit_code == 4


def test_an_appended_gzip_member_is_trailing_data(trail: Trail) -> None:
    log = trail.covered_logs()[0]
    path = trail.root / log
    path.write_bytes(path.read_bytes() + encode_log([{"eventName": "Smuggled"}]))
    _, logs = statuses(trail.run())
    assert logs[log] == "trailing_data"
    assert others(logs, log) <= {"valid", "not_yet_covered"}


def test_a_deleted_log_file_is_missing(trail: Trail) -> None:
    log = trail.covered_logs()[3]
    trail.delete(log)
    result = trail.run()
    _, logs = statuses(result)
    assert logs[log] == "missing"
    assert others(logs, log) <= {"valid", "not_yet_covered"}
    assert result.exit_code == 4


def test_a_deleted_digest_is_missing_and_its_files_unreferenced(trail: Trail) -> None:
    gone = trail.digest_of(trail.covered_logs()[2])
    orphaned = trail.listed_by(gone)
    trail.delete(gone)
    result = trail.run()
    digests, logs = statuses(result)
    assert digests[gone] == "missing"
    assert others(digests, gone) == {"valid"}
    assert {logs[k] for k in orphaned} == {"unreferenced"}
    assert others(logs, *orphaned) <= {"valid", "not_yet_covered"}
    assert result.exit_code == 4


def test_two_consecutive_deleted_digests(trail: Trail) -> None:
    # Two consecutive digests that both list files: the newer is named by its successor, the older by nobody.
    keys = trail.digest_keys
    i = next(i for i, k in enumerate(keys) if i > 0 and trail.listed_by(k))
    older, newer = keys[i], keys[i + 1]
    assert trail.digest(keys[i + 2])["previousDigestS3Object"] == newer
    orphaned = trail.listed_by(older) | trail.listed_by(newer)
    trail.delete(older)
    trail.delete(newer)
    result = trail.run()
    digests, logs = statuses(result)
    assert digests[newer] == "missing"
    assert older not in digests  # named by no surviving digest: only its log files can show it
    assert others(digests, newer) == {"valid"}
    assert {logs[k] for k in orphaned} == {"unreferenced"}
    assert others(logs, *orphaned) <= {"valid", "not_yet_covered"}


def test_a_moved_digest(trail: Trail) -> None:
    log = trail.covered_logs()[1]
    original = trail.digest_of(log)
    moved = original.replace("30Z.json.gz", "59Z.json.gz")  # the same chain and hour, another name
    assert moved != original
    (trail.root / original).rename(trail.root / moved)
    (trail.root / (original + ".signature")).rename(trail.root / (moved + ".signature"))
    result = trail.run()
    digests, logs = statuses(result)
    assert digests[moved] == "moved"
    assert digests[original] == "missing"  # its successor still names the original location
    assert others(digests, moved, original) == {"valid"}
    assert logs[log] == "unreferenced"
    detail = next(v.detail for v in result.log_files if v.key == log)
    assert "moved" in detail


def test_an_unknown_fingerprint(trail: Trail, tmp_path: Path) -> None:
    log = trail.covered_logs()[0]
    target = trail.digest_of(log)
    stranger = SigningKey.generate()
    data = trail.digest(target)
    data["digestPublicKeyFingerprint"] = stranger.fingerprint
    _resign(trail.root, target, data, stranger)
    digests, logs = statuses(trail.run())
    assert digests[target] == "unknown_key"
    assert others(digests, target) == {"valid"}
    assert logs[log] == "unreferenced"


def test_an_altered_digest_or_a_missing_signature_is_a_bad_signature(trail: Trail) -> None:
    altered, unsigned = [k for k in trail.digest_keys if trail.listed_by(k)][:2]
    data = trail.digest(altered)
    data["logFiles"][0]["hashValue"] = "0" * 64  # covering up a change to a log file, without the key
    (trail.root / altered).write_bytes(gzip.compress(json.dumps(data).encode()))
    (trail.root / (unsigned + ".signature")).unlink()
    digests, logs = statuses(trail.run())
    assert digests[altered] == "bad_signature"
    assert digests[unsigned] == "bad_signature"
    assert others(digests, altered, unsigned) == {"valid"}
    assert {logs[k] for k in trail.listed_by(altered) | trail.listed_by(unsigned)} == {"unreferenced"}


def test_a_replaced_digest_fails_against_what_its_successor_recorded(trail: Trail) -> None:
    # Re-signed with the real key (a stolen key, or a digest re-delivered): its own signature is fine, but the
    # next digest recorded the hash and signature of the original.
    target = [k for k in trail.digest_keys if trail.listed_by(k)][1]
    data = trail.digest(target)
    data["logFiles"] = data["logFiles"][:-1]
    _resign(trail.root, target, data, demo_signing_key())
    digests, _ = statuses(trail.run())
    assert digests[target] == "bad_signature"
    assert others(digests, target) == {"valid"}


def test_a_restarted_chain_is_a_gap(tmp_path: Path) -> None:
    root = tmp_path / "bucket"
    first = Trail(root, write_trail(spec(end=END - dt.timedelta(days=3), days=1), folder_sink(root)))
    second = write_trail(spec(seed=99), folder_sink(root))  # logging resumed two days later: a new chain
    restart = sorted(second.digest_keys)[0]
    result = first.run()
    digests, _ = statuses(result)
    assert digests[restart] == "gap"
    assert others(digests, restart) == {"valid"}
    detail = next(v.detail for v in result.digests if v.key == restart)
    assert sorted(first.manifest.digest_keys)[-1] in detail
    assert result.exit_code == 4  # a trail that stopped logging is what an intruder does first


def test_a_backfill_chain_is_separate_and_valid(trail: Trail) -> None:
    log_time = dt.datetime(2024, 3, 9, 7, 12, tzinfo=dt.UTC)
    key = log_key(ACCOUNT, REGION, log_time, "BackfilledFile01")
    body = encode_log([{"eventVersion": "1.08", "eventName": "Late", "eventTime": "2024-03-09T07:10:00Z"}])
    folder_sink(trail.root)(key, body)
    chain = DigestChain(
        demo_signing_key(), ACCOUNT, REGION, "management", REGION, "trailduck-demo", backfill=True
    )
    start = dt.datetime(2024, 3, 9, 7, 0, 30, tzinfo=dt.UTC)
    info = LogFileInfo(key, hashlib.sha256(gzip.decompress(body)).hexdigest())
    backfill = chain.write(start, start + dt.timedelta(hours=1), [info])
    folder_sink(trail.root)(backfill.key, backfill.body, backfill.metadata)
    assert backfill.key.endswith("_backfill.json.gz")
    result = trail.run()
    digests, logs = statuses(result)
    assert (
        digests[backfill.key] == "valid"
    )  # first of its own chain: no gap, though regular digests are older
    assert logs[key] == "valid"
    assert result.exit_code == 0


def test_a_file_nothing_lists_is_unreferenced_or_not_yet_covered(trail: Trail) -> None:
    early = log_key(ACCOUNT, REGION, dt.datetime(2024, 3, 9, 3, 17, tzinfo=dt.UTC), "PlantedByHand001")
    late = log_key(ACCOUNT, REGION, dt.datetime(2024, 3, 10, 23, 30, tzinfo=dt.UTC), "DeliveredLate001")
    for key in (early, late):
        folder_sink(trail.root)(key, encode_log([{"eventName": "X", "eventTime": "2024-03-09T03:10:00Z"}]))
    result = trail.run()
    _, logs = statuses(result)
    assert logs[early] == "unreferenced"
    assert logs[late] == "not_yet_covered"
    assert result.exit_code == 4


def test_a_window_reports_only_its_days(trail: Trail) -> None:
    day = END - dt.timedelta(days=1)
    result = trail.run(since=day, until=day)
    digests, logs = statuses(result)
    assert digests and set(digests.values()) == {"valid"}
    assert all(f"/{day:%Y/%m/%d}/" in k for k in [*digests, *logs])
    assert set(logs.values()) == {"valid"}  # the last digest of the day is in the next day's folder


def test_over_s3_the_signature_is_object_metadata(
    s3_client: Any, bucket: str, tmp_path: Path, s3_endpoint: str
) -> None:
    manifest = write_trail(spec(bucket=bucket, prefix="ct/"), s3_sink(s3_client, bucket))
    keys_file = tmp_path / "keys.json"
    assert manifest.signing_key is not None
    keys_file.write_text(json.dumps(manifest.signing_key.public_key_list()))
    options = VerifyOptions(source=f"s3://{bucket}/ct", public_keys=keys_file, endpoint_url=s3_endpoint)
    result = verify(options)
    digests, logs = statuses(result)
    assert set(digests.values()) == {"valid"} and len(digests) == manifest.digests
    assert "valid" in logs.values() and result.exit_code == 0
    # A digest copied into another bucket is moved: its digestS3Bucket names the original one.
    other = f"{bucket}-copy"
    s3_client.create_bucket(Bucket=other)
    key = sorted(manifest.digest_keys)[5]
    s3_client.copy_object(Bucket=other, Key=key, CopySource={"Bucket": bucket, "Key": key})
    copied = verify(VerifyOptions(source=f"s3://{other}/ct", public_keys=keys_file, endpoint_url=s3_endpoint))
    assert [v.status for v in copied.digests] == ["moved"]
    assert copied.to_json()["digests"][0]["key"] == key  # printed as the object key, prefix included


def test_the_lake_cross_check_and_the_integrity_view(trail: Trail, tmp_path: Path) -> None:
    log = trail.covered_logs()[0]
    path = trail.root / log
    original = path.read_bytes()
    records = json.loads(gzip.decompress(original))["Records"]
    records[0]["sourceIPAddress"] = "10.6.6.6"
    path.write_bytes(encode_log(records))  # tampered when ingest read it ...
    lake = Lake(tmp_path / "lake")
    ingest(IngestOptions(source=str(trail.root), lake=lake.root))
    path.write_bytes(original)  # ... and put back before anyone verified
    plain = trail.run()
    assert {v.key: v.status for v in plain.log_files}[log] == "valid"
    runner = CliRunner()
    res = runner.invoke(
        app,
        [
            "verify",
            str(trail.root),
            "--public-keys",
            str(trail.keys_file),
            "--lake",
            str(lake.root),
            "--json",
        ],
    )
    assert res.exit_code == 4, res.output
    out = json.loads(res.stdout)
    assert set(out) == {"digests", "log_files", "note"} and out["note"] is None
    entry = next(e for e in out["log_files"] if e["key"] == log)
    assert entry["status"] == "hash_mismatch" and "lake" in entry["detail"]
    assert len(lake_hashes(lake) or {}) == len(trail.log_keys)
    _, rows = run_query(
        lake,
        "SELECT i.status, count(*) FROM events e JOIN integrity i USING (source_key) "
        "WHERE e.sourceIPAddress = '10.6.6.6' GROUP BY ALL",
    )
    assert rows == [("hash_mismatch", 1)]
    _, rows = run_query(lake, "SELECT count(*) FROM integrity_digests WHERE status = 'valid'")
    assert rows == [(len(trail.digest_keys),)]


def test_cli_summary_exit_codes_and_errors(trail: Trail, tmp_path: Path, s3_endpoint: str) -> None:
    runner = CliRunner()
    ok = runner.invoke(app, ["verify", str(trail.root), "--public-keys", str(trail.keys_file)])
    assert ok.exit_code == 0, ok.output
    assert "valid" in ok.stdout and "not yet covered" in ok.stdout
    log = trail.covered_logs()[0]
    trail.delete(log)
    bad = runner.invoke(app, ["verify", str(trail.root), "--public-keys", str(trail.keys_file)])
    assert bad.exit_code == 4
    assert "missing" in bad.stdout and log in bad.stdout and f"{ACCOUNT} {REGION}" in bad.stdout
    junk = tmp_path / "junk.json"
    junk.write_text("{}")
    res = runner.invoke(app, ["verify", str(trail.root), "--public-keys", str(junk)])
    assert res.exit_code == 2 and "PublicKeyList" in res.output and "Traceback" not in res.output
    res = runner.invoke(app, ["verify", str(trail.root), "--since", "2024-03-10", "--until", "2024-03-01"])
    assert res.exit_code == 2 and "swap" in res.output
    # Without --public-keys the keys come from CloudTrail; the test server has no ListPublicKeys.
    res = runner.invoke(app, ["verify", str(trail.root), "--endpoint-url", s3_endpoint])
    assert res.exit_code == 1 and "ListPublicKeys" in res.output and "--public-keys" in res.output


def test_the_verify_help_names_every_status() -> None:
    res = CliRunner().invoke(app, ["verify", "--help"])
    assert res.exit_code == 0
    for status in ("bad_signature", "moved", "gap", "unknown_key", "hash_mismatch", "trailing_data"):
        assert status in res.stdout


def _resign(root: Path, key: str, data: dict[str, Any], signing_key: SigningKey) -> None:
    """Write ``data`` as the digest ``key``, signed with ``signing_key`` (CloudTrail's string to sign)."""
    text = json.dumps(data).encode()
    signature = signing_key.sign(string_to_sign(data, hashlib.sha256(text).hexdigest()))
    folder_sink(root)(key, gzip.compress(text), {"signature": signature})


def test_a_copied_trail_folder_keeps_verifying(trail: Trail, tmp_path: Path) -> None:
    # `aws s3 sync` to another machine: the relative keys are what digests name.
    copy = tmp_path / "elsewhere"
    shutil.copytree(trail.root, copy)
    result = verify(VerifyOptions(source=str(copy), public_keys=trail.keys_file))
    assert result.exit_code == 0 and len(result.digests) == len(trail.digest_keys)


def test_the_default_generated_trail_verifies_clean_org_trail_included(tmp_path: Path) -> None:
    root = tmp_path / "bucket"
    manifest = write_trail(TrailSpec(signing_key=demo_signing_key()), folder_sink(root))
    trail = Trail(root, manifest)
    result = trail.run()
    digests, logs = statuses(result)
    assert len(digests) == manifest.digests and set(digests.values()) == {"valid"}
    assert any(k.startswith("AWSLogs/o-") for k in digests), "the organization trail's chains"
    assert set(logs.values()) <= {"valid", "not_yet_covered"} and "valid" in logs.values()
    assert result.exit_code == 0 and not result.unvouched_streams


def test_a_key_outside_its_validity_is_unknown(trail: Trail, tmp_path: Path) -> None:
    key = demo_signing_key()
    retired = SigningKey(key.private, valid_from=dt.datetime(2020, 1, 1, tzinfo=dt.UTC))
    listing = retired.public_key_list()
    listing["PublicKeyList"][0]["ValidityEndTime"] = "2024-03-09T12:00:00Z"  # rotated out at noon
    keys_file = tmp_path / "retired.json"
    keys_file.write_text(json.dumps(listing))
    result = verify(VerifyOptions(source=str(trail.root), public_keys=keys_file))
    digests, _ = statuses(result)
    # Digests up to two hours after the end of validity still verify (keys rotate; the AWS CLI's margin).
    late = {k for k, s in digests.items() if s == "unknown_key"}
    assert late and all(trail.digest(k)["digestEndTime"] > "2024-03-09T14:00:00Z" for k in late)
    assert all(trail.digest(k)["digestEndTime"] <= "2024-03-09T14:00:30Z" for k in set(digests) - late)


def test_public_keys_from_list_public_keys_pages() -> None:
    key = demo_signing_key()
    entry = key.public_key_list()["PublicKeyList"][0]
    boto_entry = {
        "Value": base64.b64decode(entry["Value"]),  # boto3 returns bytes and datetimes
        "ValidityStartTime": dt.datetime(2024, 1, 1, tzinfo=dt.UTC),
        "ValidityEndTime": dt.datetime(2024, 6, 1, tzinfo=dt.UTC),
        "Fingerprint": entry["Fingerprint"],
    }

    class Pages:
        def __init__(self) -> None:
            self.calls: list[dict[str, Any]] = []

        def list_public_keys(self, **kw: Any) -> dict[str, Any]:
            self.calls.append(kw)
            if "NextToken" not in kw:
                return {"PublicKeyList": [], "NextToken": "more"}
            return {"PublicKeyList": [boto_entry]}

    client = Pages()
    when = dt.datetime(2024, 3, 9, 12, tzinfo=dt.UTC)
    keys = fetch_public_keys(client, when, when)
    assert [k.fingerprint for k in keys] == [key.fingerprint] and len(client.calls) == 2
    assert client.calls[0]["StartTime"] == when - dt.timedelta(hours=2)
    found = find_key(keys, key.fingerprint.upper(), when)
    assert found is not None and found.verify(key.sign(b"hello"), b"hello")
    assert not found.verify(key.sign(b"hello"), b"hello!") and not found.verify("zz", b"hello")
    assert find_key(keys, key.fingerprint, dt.datetime(2025, 1, 1, tzinfo=dt.UTC)) is None


def test_trusting_the_lake_hashes_proves_the_lake_without_reading_the_files(
    trail: Trail, tmp_path: Path
) -> None:
    lake = Lake(tmp_path / "lake")
    ingest(IngestOptions(source=str(trail.root), lake=lake.root))
    log = trail.covered_logs()[0]
    records = json.loads(gzip.decompress((trail.root / log).read_bytes()))["Records"]
    records[0]["eventName"] = "ChangedAfterIngest"
    (trail.root / log).write_bytes(encode_log(records))  # the source changes after ingest
    options = VerifyOptions(source=str(trail.root), public_keys=trail.keys_file, trust_lake_hashes=True)
    trusted = verify(options, converted_hashes=lake_hashes(lake))
    verdicts = {v.key: v for v in trusted.log_files}
    assert verdicts[log].status == "valid" and "recorded at ingest" in verdicts[log].detail  # not read again
    assert trusted.exit_code == 0
    strict = verify(
        VerifyOptions(source=str(trail.root), public_keys=trail.keys_file), converted_hashes=lake_hashes(lake)
    )
    assert {v.key: v.status for v in strict.log_files}[log] == "hash_mismatch"
    res = CliRunner().invoke(
        app, ["verify", str(trail.root), "--public-keys", str(trail.keys_file), "--trust-lake-hashes"]
    )
    assert res.exit_code == 2 and "--lake" in res.output


def _plant_unsigned_digest(
    trail: Trail, data_changes: dict[str, Any], name_time: str = "20240309T113000Z"
) -> str:
    """A digest-named file anyone with write access could add: gzipped JSON, no signature."""
    data = trail.digest(trail.digest_keys[3]) | data_changes
    key = trail.digest_keys[3].rsplit("_", 1)[0] + f"_{name_time}.json.gz"
    folder_sink(trail.root)(key, gzip.compress(json.dumps(data).encode()))
    return key


@pytest.mark.parametrize(
    "changes",
    [
        {"digestEndTime": "0001-01-01T00:30:00+01:00"},  # converting to UTC overflows
        {"digestEndTime": "9999-12-31T23:59:59-01:00"},
        {"digestS3Object": "x\ud800y"},  # a lone surrogate no output can encode
        {"logFiles": {"a": 1}},
    ],
)
def test_hostile_digests_are_reported_never_a_traceback(
    trail: Trail, tmp_path: Path, changes: dict[str, Any]
) -> None:
    planted = _plant_unsigned_digest(trail, changes)
    lake = tmp_path / "lake"
    for extra in (["--json"], ["--lake", str(lake)], []):
        res = CliRunner().invoke(
            app, ["verify", str(trail.root), "--public-keys", str(trail.keys_file), *extra]
        )
        assert res.exit_code == 4, res.output
        assert res.exception is None or isinstance(res.exception, SystemExit)
    digests, _ = statuses(trail.run())
    assert digests[planted] in ("bad_signature", "moved")
    assert others(digests, planted) == {"valid"}


def test_a_fifo_or_folder_as_signature_sidecar_is_no_signature(trail: Trail) -> None:
    fifo_digest, dir_digest = trail.digest_keys[4], trail.digest_keys[5]
    for key in (fifo_digest, dir_digest):
        (trail.root / (key + ".signature")).unlink()
    os.mkfifo(trail.root / (fifo_digest + ".signature"))  # reading it would block forever
    (trail.root / (dir_digest + ".signature")).mkdir()
    digests, _ = statuses(trail.run())
    assert digests[fifo_digest] == digests[dir_digest] == "bad_signature"


def test_a_file_planted_under_an_organization_folder_is_unreferenced(trail: Trail) -> None:
    planted = "AWSLogs/o-a1b2c3d4e5/" + log_key(
        ACCOUNT, REGION, dt.datetime(2024, 3, 9, 1, 22, tzinfo=dt.UTC), "PlantedPlanted01"
    ).removeprefix("AWSLogs/")
    folder_sink(trail.root)(planted, encode_log([{"eventName": "X"}]))
    result = trail.run()
    assert {v.key: v.status for v in result.log_files}[planted] == "unreferenced"
    assert result.exit_code == 4


def test_without_any_digest_nothing_is_proven(trail: Trail) -> None:
    for key in trail.digest_keys:
        trail.delete(key)
    result = trail.run()
    _, logs = statuses(result)
    assert set(logs.values()) == {"unreferenced"} and result.exit_code == 4
    assert result.unvouched_streams == [(ACCOUNT, REGION)]


def test_odd_names_in_a_signed_digest_are_reported_missing(trail: Trail) -> None:
    target = next(k for k in trail.digest_keys if trail.listed_by(k))
    data = trail.digest(target)
    odd = ["/AWSLogs/x.json.gz", "AWSLogs/../etc/passwd", ""]
    data["logFiles"] += [{"s3Bucket": "trailduck-demo", "s3Object": k, "hashValue": "0" * 64} for k in odd]
    _resign(trail.root, target, data, demo_signing_key())
    after = trail.digest_keys[trail.digest_keys.index(target) + 1]
    following = trail.digest(after)  # keep the chain intact: the next digest records the new one
    following["previousDigestHashValue"] = hashlib.sha256(json.dumps(data).encode()).hexdigest()
    following["previousDigestSignature"] = (trail.root / (target + ".signature")).read_text().strip()
    _resign(trail.root, after, following, demo_signing_key())
    result = trail.run()
    missing = {v.key for v in result.log_files if v.status == "missing"}
    assert missing == set(odd)
    assert not (trail.root.parent / "etc").exists()


def test_a_symbolic_link_in_place_of_a_digest_is_reported_not_followed(trail: Trail, tmp_path: Path) -> None:
    newest = trail.digest_keys[-1]
    outside = tmp_path / "elsewhere.json.gz"
    (trail.root / newest).rename(outside)
    (trail.root / newest).symlink_to(outside)
    result = trail.run()
    digests, _ = statuses(result)
    assert digests[newest] == "bad_signature"  # the newest has no successor to name it: only this shows it
    assert "symbolic link" in next(v.detail for v in result.digests if v.key == newest)
    assert result.exit_code == 4
