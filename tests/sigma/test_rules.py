"""Reading Sigma rule files: every bad file or rule is reported with its reason, the others still run, and no
hostile file makes the reader hang or eat memory."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from trailduck.errors import ConfigError
from trailduck.sigma.rules import MAX_NODES, MAX_RULE_BYTES, load_rules

GOOD = """\
title: CloudTrail logging stopped
id: 0b0b1f0e-8f4c-4c39-9d53-6a52f1d0c001
status: test
level: high
tags: [attack.defense-evasion]
logsource: {product: aws, service: cloudtrail}
detection:
  selection:
    eventSource: cloudtrail.amazonaws.com
    eventName: [StopLogging, DeleteTrail]
  condition: selection
"""


def _rule(**changes: str) -> str:
    text = GOOD
    for old, new in changes.items():
        text = text.replace(old, new)
    return text


def _write(folder: Path, name: str, text: str | bytes) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def _bomb(levels: int = 12) -> str:
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, levels):
        refs = ", ".join(f"*a{i - 1}" for _ in range(10))
        lines.append(f"a{i}: &a{i} [{refs}]")
    return GOOD.replace("detection:", "\n".join(lines) + "\ndetection:")


HOSTILE: dict[str, tuple[str | bytes, str]] = {
    "bomb.yml": (_bomb(), "would add over"),
    "latin1.yml": (GOOD.replace("logging stopped", "logging stopp\xe9").encode("latin-1"), "not UTF-8"),
    "notyaml.yml": ("title: [unclosed\n  : : :\n", "not YAML"),
    "list.yml": ("- just\n- a list\n", "not a Sigma rule"),
    "other_yaml.yml": ("title: a config file\nfoo: bar\n", "must have a detection"),
    "empty.yml": ("", "no rule in it"),
    "deep.yml": ("[" * 5000 + "]" * 5000, "nested too deeply"),
    "bad_condition.yml": (_rule(**{"condition: selection": "condition: selection and ("}), "condition"),
    "unknown_modifier.yml": (_rule(**{"eventSource:": "eventSource|frobnicate:"}), "frobnicate"),
    "windows.yml": (
        _rule(**{"{product: aws, service: cloudtrail}": "{product: windows, category: process_creation}"}),
        "not CloudTrail",
    ),
    "aggregation.yml": (
        _rule(**{"condition: selection": "condition: selection | count() by userIdentity.arn > 5"}),
        "",
    ),
    "expand.yml": (
        _rule(**{"eventSource:": "sourceIPAddress|expand:", "cloudtrail.amazonaws.com": "'%admin_ips%'"}),
        "placeholder",
    ),
    "lookahead.yml": (
        _rule(**{"eventSource:": "eventSource|re:", "cloudtrail.amazonaws.com": "'^(?!s3)'"}),
        "regular expression",
    ),
    "bad_field.yml": (_rule(**{"eventSource:": '"event\\"Source":'}), "field"),
    "level_bogus.yml": (_rule(**{"level: high": "level: bogus"}), "level"),
    "level_list.yml": (_rule(**{"level: high": "level: [high]"}), "level"),
    "condition_number.yml": (_rule(**{"condition: selection": "condition: 5"}), "condition"),
    "condition_null.yml": (_rule(**{"condition: selection": "condition: null"}), "condition"),
    "title_list.yml": (_rule(**{"title: CloudTrail logging stopped": "title: [a, b]"}), "title"),
    "too_large.yml": (
        _rule(**{"condition: selection": "condition: " + " and ".join(["selection"] * 1500)}),
        "too large",
    ),
}


def test_each_hostile_file_is_reported_with_its_reason_and_the_good_rules_still_load(tmp_path: Path) -> None:
    _write(tmp_path, "a_good.yml", GOOD)
    for name, (text, _) in HOSTILE.items():
        _write(tmp_path / "bad", name, text)
    _write(
        tmp_path,
        "z_good.yaml",
        _rule(**{"0b0b1f0e-8f4c-4c39-9d53-6a52f1d0c001": "0b0b1f0e-8f4c-4c39-9d53-6a52f1d0c002"}),
    )
    rules = load_rules([tmp_path])  # the bomb (10 ** 12 nodes expanded) is refused without expanding it
    by_file = {r.file.name: r for r in rules}
    assert set(by_file) == {"a_good.yml", "z_good.yaml", *HOSTILE}
    for good in ("a_good.yml", "z_good.yaml"):
        assert by_file[good].condition and by_file[good].unsupported is None
    for name, (_, reason) in HOSTILE.items():
        rule = by_file[name]
        assert isinstance(rule.title, str) and (rule.level is None or isinstance(rule.level, str)), name
        assert rule.condition is None, name
        assert rule.unsupported and reason.lower() in rule.unsupported.lower(), (name, rule.unsupported)
    assert "aggregation" in by_file["aggregation.yml"].unsupported  # type: ignore[operator]


def test_a_ten_megabyte_file_is_refused_without_being_read_whole(tmp_path: Path) -> None:
    big = _write(tmp_path, "big.yml", GOOD + "# " + "x" * (10 * 2**20) + "\n")
    [rule] = load_rules([big])
    assert rule.condition is None and f"larger than {MAX_RULE_BYTES >> 20} MiB" in (rule.unsupported or "")


def test_a_few_aliases_are_read_and_a_bomb_is_not(tmp_path: Path) -> None:
    # Three levels of aliases add about 1,300 nodes once expanded, five about 123,000.
    assert 1_300 < MAX_NODES < 123_000
    small = _write(tmp_path, "small.yml", _bomb(levels=3))
    large = _write(tmp_path, "large.yml", _bomb(levels=5))
    [ok], [refused] = load_rules([small]), load_rules([large])
    assert ok.unsupported is None and ok.condition
    assert refused.condition is None and "would add over" in (refused.unsupported or "")


def test_a_correlation_rule_is_listed_and_its_base_rule_runs(tmp_path: Path) -> None:
    correlation = textwrap.dedent(
        """\
        title: Many stops
        name: many_stops
        correlation:
          type: event_count
          rules: [logging_stopped]
          group-by: [userIdentity.arn]
          timespan: 1h
          condition: {gte: 3}
        """
    )
    path = _write(
        tmp_path,
        "corr.yml",
        _rule(
            **{
                "title: CloudTrail logging stopped": "title: CloudTrail logging stopped\nname: logging_stopped"
            }
        )
        + "---\n"
        + correlation,
    )
    rules = load_rules([path])
    assert [r.title for r in rules] == ["CloudTrail logging stopped", "Many stops"]
    assert rules[0].condition and "correlation rule (event_count)" in (rules[1].unsupported or "")
    assert [r.view for r in rules] == ["sigma_logging_stopped", "sigma_many_stops"]


def test_view_names_come_from_the_file_and_stay_unique(tmp_path: Path) -> None:
    _write(tmp_path / "a", "Disable-Logging.yml", GOOD)
    _write(tmp_path / "b", "disable_logging.yml", GOOD)
    _write(tmp_path / "c", "---.yml", GOOD)
    views = [r.view for r in load_rules([tmp_path])]
    assert views == ["sigma_disable_logging", "sigma_disable_logging_2", "sigma_rule"]


@pytest.mark.parametrize(
    ("given", "said"),
    [
        ("missing", "no such file or folder"),
        ("empty", "no Sigma rules there"),
    ],
)
def test_a_wrong_path_is_a_usage_error_that_says_what_to_give(tmp_path: Path, given: str, said: str) -> None:
    (tmp_path / "empty").mkdir()
    _write(tmp_path / "empty", "notes.txt", "not a rule")
    with pytest.raises(ConfigError, match=said):
        load_rules([tmp_path / given])
