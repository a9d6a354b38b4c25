"""check_layout on a local folder and on a real S3 server: the wrong folder is named, never listed as empty."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from trailduck.errors import ConfigError
from trailduck.scanner import locate
from trailduck.scanner.listing import discover_streams
from trailduck.scanner.local import LocalSource
from trailduck.scanner.locate import check_layout
from trailduck.scanner.s3 import S3Source
from trailduck.scanner.source import Source
from trailduck.synthetic.generator import encode_log, log_key

ACCOUNT = "111122223333"
ORG = "o-a1b2c3d4e5"
MEMBER = "777788889999"
DELIVERED = dt.datetime(2024, 3, 10, 2, tzinfo=dt.UTC)


@dataclass
class Place:
    """A bucket or a folder: objects are put below its root, sources opened at a location below it."""

    put: Callable[[str], None]
    open: Callable[[str], Source]
    #: How a message names the location ``rel`` below the root.
    name: Callable[[str], str]
    local: bool


@pytest.fixture(params=["local", "s3"])
def place(request: pytest.FixtureRequest, tmp_path: Path) -> Place:
    if request.param == "local":
        root = tmp_path / "bucket"
        root.mkdir()

        def put_file(key: str) -> None:
            if key.endswith("/"):  # a folder object: locally, an empty folder
                (root / key).mkdir(parents=True)
                return
            (root / key).parent.mkdir(parents=True, exist_ok=True)
            (root / key).write_bytes(encode_log([]))

        return Place(
            put_file,
            lambda rel: LocalSource(root / rel),
            lambda rel: str((root / rel).resolve()),
            local=True,
        )
    client: Any = request.getfixturevalue("s3_client")
    bucket: str = request.getfixturevalue("bucket")
    return Place(
        lambda key: client.put_object(Bucket=bucket, Key=key, Body=encode_log([])),
        lambda rel: S3Source(client, bucket, f"{rel}/" if rel else ""),
        lambda rel: f"s3://{bucket}/{rel}" if rel else f"s3://{bucket}",
        local=False,
    )


def put_trail(place: Place, prefix: str = "", *, awslogs: bool = True) -> None:
    """One log file of a plain account and one of an organization member, under ``prefix``; without
    ``awslogs``, their keys lose the AWSLogs/ segment (what ``aws s3 sync s3://b/AWSLogs ./copy`` leaves)."""
    for key in (
        log_key(ACCOUNT, "us-east-1", DELIVERED, "A" * 16),
        log_key(MEMBER, "eu-west-1", DELIVERED, "B" * 16, org_id=ORG),
    ):
        place.put(prefix + (key if awslogs else key.removeprefix("AWSLogs/")))


def refused(source: Source, command: str = "ingest") -> str:
    with pytest.raises(ConfigError) as info:
        check_layout(source, command)
    return str(info.value)


def test_the_location_holding_awslogs_passes_and_lists_streams(place: Place) -> None:
    put_trail(place, "logs/")
    source = place.open("logs")
    check_layout(source, "ingest")
    assert len(discover_streams(source)) == 2


@pytest.mark.parametrize("prefix", ["logs/", "a/b/"])
def test_logs_one_or_two_levels_down_are_named(place: Place, prefix: str) -> None:
    put_trail(place, prefix)
    place.put("other/readme.txt")
    where = place.name(prefix.rstrip("/"))
    message = refused(place.open(""))
    assert f"CloudTrail logs are under {where}/: run trailduck ingest {where}" in message


def test_two_trails_below_are_all_listed(place: Place) -> None:
    put_trail(place, "one/")
    put_trail(place, "x/two/")
    message = refused(place.open(""), "verify")
    assert place.name("one") + "/" in message and place.name("x/two") + "/" in message
    assert f"trailduck verify {place.name('one')}" in message


@pytest.mark.parametrize(
    ("inside", "what"),
    [
        ("AWSLogs", "the AWSLogs/ folder itself"),
        (f"AWSLogs/{ACCOUNT}", "an account folder inside AWSLogs/"),
        (f"AWSLogs/{ORG}", "an organization folder inside AWSLogs/"),
        (f"AWSLogs/{ORG}/{MEMBER}", "a folder inside AWSLogs/"),
        (f"AWSLogs/{ACCOUNT}/CloudTrail", "a folder inside AWSLogs/"),
        (f"AWSLogs/{ACCOUNT}/CloudTrail/us-east-1", "a folder inside AWSLogs/"),
    ],
)
def test_a_source_inside_awslogs_names_the_location_above(place: Place, inside: str, what: str) -> None:
    put_trail(place, "logs/")
    message = refused(place.open(f"logs/{inside}"))
    where = place.name("logs")
    assert message == (
        f"{place.name('logs/' + inside)} is {what}; CloudTrail logs are under {where}/: "
        f"run trailduck ingest {where}"
    )


def test_awslogs_right_under_the_bucket_or_folder(place: Place) -> None:
    put_trail(place)
    message = refused(place.open("AWSLogs"))
    assert f"run trailduck ingest {place.name('')}" in message


def test_a_copy_of_awslogs_content_says_how_to_keep_awslogs(place: Place) -> None:
    # What `aws s3 sync s3://b/AWSLogs ./copy` leaves: the account and organization folders, no AWSLogs/.
    put_trail(place, "copy/", awslogs=False)
    copy = place.name("copy")
    message = refused(place.open("copy"))
    assert message.startswith(f"{copy} is a copy of an AWSLogs/ folder's content (it holds account folders")
    assert f"move the account folders into {copy}/AWSLogs/" in message or f"under {copy}/AWSLogs/" in message
    assert f"run trailduck ingest {copy}" in message
    if place.local:
        assert f"aws s3 sync s3://BUCKET/AWSLogs {copy}/AWSLogs" in message


@pytest.mark.parametrize(
    ("below", "what"),
    [
        (ACCOUNT, "an account folder (it holds CloudTrail/)"),
        (f"{ACCOUNT}/CloudTrail", "a CloudTrail/ folder (it holds region folders)"),
        (f"{ACCOUNT}/CloudTrail/us-east-1", "a region folder (it holds year folders)"),
        (ORG, "an organization folder (it holds account folders)"),
    ],
)
def test_part_of_a_layout_without_awslogs_above(place: Place, below: str, what: str) -> None:
    put_trail(place, "copy/", awslogs=False)
    message = refused(place.open(f"copy/{below}"))
    assert message.startswith(
        f"{place.name('copy/' + below)} is {what}, without the AWSLogs/ folder above it"
    )


def test_an_empty_source_passes(place: Place) -> None:
    place.put("new-trail/")  # a trail created minutes ago: its prefix made, nothing delivered yet
    source = place.open("new-trail")
    check_layout(source, "ingest")
    assert discover_streams(source, accounts=[ACCOUNT], regions=["us-east-1"]) == []


def test_an_awslogs_folder_without_accounts_yet_passes(place: Place) -> None:
    place.put("AWSLogs/")  # the zero-byte folder object a console makes; locally an empty folder
    source = place.open("")
    check_layout(source, "ingest")
    assert discover_streams(source) == []


def test_objects_but_no_awslogs_anywhere(place: Place) -> None:
    place.put("a/b/c/AWSLogs/x.json")  # three levels down: not looked for
    place.put("notes.txt")
    message = refused(place.open(""))
    assert "no AWSLogs/ folder here or in 2 folder levels below it" in message
    assert "give the location that holds AWSLogs/" in message


def test_the_probe_is_bounded(place: Place, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(locate, "MAX_PROBES", 5)
    for i in range(8):
        place.put(f"folder{i}/sub/file.txt")
    source = place.open("")
    calls: list[str] = []
    real = source.list_dirs

    def counting(prefix: str) -> list[str]:
        calls.append(prefix)
        return real(prefix)

    monkeypatch.setattr(source, "list_dirs", counting)
    message = refused(source)
    assert len(calls) == 2 + 5  # AWSLogs/ and the root, then five folders below it
    assert "the first 5 folders below it" in message


def test_accounts_and_regions_that_match_nothing_list_what_exists(place: Place) -> None:
    put_trail(place)
    source = place.open("")
    with pytest.raises(ConfigError) as info:
        discover_streams(source, accounts=[ACCOUNT, "999999999999"])
    assert str(info.value) == (
        f"--accounts 999999999999: not in {source.display('AWSLogs/')}; "
        f"the accounts there are {ACCOUNT}, {MEMBER}"
    )
    with pytest.raises(ConfigError) as info:
        discover_streams(source, regions=["ap-south-1"])
    assert "--regions ap-south-1: not in" in str(info.value)
    assert str(info.value).endswith("the regions there are eu-west-1, us-east-1")
    with pytest.raises(ConfigError) as info:
        discover_streams(source, accounts=[ACCOUNT], regions=["eu-west-1"])
    assert str(info.value).endswith("for the accounts asked for; the regions there are us-east-1")
    assert len(discover_streams(source, accounts=[MEMBER], regions=["eu-west-1"])) == 1


def test_a_long_list_is_cut() -> None:
    names = [f"{i:012d}" for i in range(25)]
    text = locate.shown(names)
    assert text.endswith("... and 5 more") and names[19] in text and names[20] not in text


def test_a_source_holding_awslogs_passes_even_below_a_folder_named_awslogs(place: Place) -> None:
    place.put(
        "AWSLogs/mirror/AWSLogs/"
    )  # an empty trail kept under a folder that happens to be named AWSLogs
    check_layout(place.open("AWSLogs/mirror"), "ingest")
