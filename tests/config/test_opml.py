"""OPML import and export, and config edits that keep the user's file as they wrote it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from xml.etree import ElementTree

import pytest
import tomlkit
from pytest_httpserver import HTTPServer

from monitor.config import FeedSettings, load_config
from monitor.config.edit import add_feeds, edit_config, feed_name
from monitor.config.opml import export_opml, parse_opml
from monitor.errors import ConfigError
from tests.builders import cli, one_line

REPO = Path(__file__).resolve().parents[2]

CONFIG = """\
# My monitor: hand-written, with comments that must survive every edit.
[scheduler]
jitter = "0"   # no jitter here

# Feeds I read every day
[[feeds]]
name = "tass-world"          # the wire
url = "https://tass.com/rss/v2.xml"

[[feeds]]
name = "example-news"
url = "https://news.example.org/feed"
interval = "1h"

# --- Topics (after the feeds, as in the shipped file)
[[topics]]
id = "summit"
title = "Summit"
reference_documents = ["refs/*.md"]   # relative to this file

[topics.keywords]
india = ["Modi"]    # one side
russia = ["Putin"]  # the other
"""

OPML = """\
<?xml version="1.0" encoding="UTF-8"?>
<opml version="2.0">
  <head><title>Exported from another reader</title></head>
  <body>
    <outline text="News" title="News">
      <outline text="Russia">
        <outline type="rss" text="TASS (again)" xmlUrl="HTTPS://TASS.com:443/rss/v2.xml?utm_source=reader"/>
        <outline type="rss" text="TASS World" xmlUrl="https://tass.example.net/world.xml"
                 htmlUrl="https://tass.example.net/"/>
      </outline>
      <outline type="rss" text="Новости &amp; Analysis: Asia" xmlUrl="https://asia.example.com/feed?a=1&amp;b=2"/>
    </outline>
    <outline type="rss" text="Old gopher hole" xmlUrl="gopher://gopher.example.org/1/news"/>
    <outline type="rss" title="Only a title" xmlurl="http://title.example.org/rss"/>
    <outline type="rss" text="Listed twice" xmlUrl="https://asia.example.com/feed?a=1&amp;b=2#top"/>
  </body>
</opml>
"""


@pytest.fixture
def config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A hand-written config with comments, its reference folder beside it, run from another directory."""
    folder = tmp_path / "conf"
    (folder / "refs").mkdir(parents=True)
    (folder / "refs" / "summit.md").write_text("Modi and Putin met for the annual summit.\n", encoding="utf-8")
    path = folder / "monitor.toml"
    path.write_text(CONFIG, encoding="utf-8")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # reference globs must resolve against the config's folder, not the cwd
    return path


@pytest.fixture
def opml_file(tmp_path: Path) -> Path:
    path = tmp_path / "subscriptions.opml"
    path.write_text(OPML, encoding="utf-8")
    return path


def test_import_adds_new_feeds_and_reports_every_outline(config_file: Path, opml_file: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli(capsys, "--config", str(config_file), "feeds", "import", str(opml_file),
                         "--interval", "30m")
    assert code == 0, err
    assert out.splitlines() == [
        "skipped 'TASS (again)': already configured as tass-world",
        "added tass-world-2: https://tass.example.net/world.xml [News/Russia]",
        "added analysis-asia: https://asia.example.com/feed?a=1&b=2 [News]",
        "skipped 'Old gopher hole': bad URL 'gopher://gopher.example.org/1/news': not an http(s) URL",
        "added only-a-title: http://title.example.org/rss",
        "skipped 'Listed twice': listed twice in the OPML (added once, as analysis-asia)",
        f"3 feed(s) added, 3 skipped (written to {config_file})",
    ]
    feeds = load_config(config_file).feeds
    assert [(f.name, f.url, f.interval) for f in feeds] == [
        ("tass-world", "https://tass.com/rss/v2.xml", "adaptive"),
        ("example-news", "https://news.example.org/feed", 3600.0),
        ("tass-world-2", "https://tass.example.net/world.xml", 1800.0),
        ("analysis-asia", "https://asia.example.com/feed?a=1&b=2", 1800.0),
        ("only-a-title", "http://title.example.org/rss", 1800.0),
    ]
    # Importing again adds nothing: every feed is configured now.
    code, out, _ = cli(capsys, "--config", str(config_file), "feeds", "import", str(opml_file))
    assert code == 0 and out.splitlines()[-1] == "0 feed(s) added, 6 skipped (nothing to write)"


def test_import_keeps_the_file_as_written_and_appends_at_the_end(config_file: Path, opml_file: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    config_file.chmod(0o640)
    assert cli(capsys, "--config", str(config_file), "feeds", "import", str(opml_file))[0] == 0
    assert config_file.stat().st_mode & 0o777 == 0o640  # the new file keeps the old one's permissions
    after = config_file.read_text(encoding="utf-8")
    assert after.startswith(CONFIG)  # every byte of the original, comments and spacing included, unchanged
    added = after[len(CONFIG):]
    assert added.startswith("\n[[feeds]]\nname = \"tass-world-2\"\n")
    assert "interval" not in added  # only when --interval is given
    assert "# Feeds I read every day" in after and 'name = "tass-world"          # the wire' in after
    assert sorted(p.name for p in config_file.parent.iterdir()) == ["monitor.toml", "refs"]  # no temp files


def test_import_into_the_shipped_config_keeps_it_byte_for_byte(tmp_path: Path, opml_file: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    shutil.copytree(REPO / "config", tmp_path / "config")
    path = tmp_path / "config" / "monitor.toml"
    original = path.read_bytes()
    code, out, err = cli(capsys, "--config", str(path), "feeds", "import", str(opml_file))
    assert code == 0, err
    assert path.read_bytes().startswith(original)
    assert len(load_config(path).feeds) == len(load_config(REPO / "config" / "monitor.toml").feeds) + 3
    assert load_config(path).topics[0].keywords == load_config(REPO / "config" / "monitor.toml").topics[0].keywords


def test_dry_run_prints_the_same_and_writes_nothing(config_file: Path, opml_file: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    code, dry, err = cli(capsys, "--config", str(config_file), "feeds", "import", str(opml_file), "--dry-run")
    assert code == 0, err
    assert config_file.read_bytes() == CONFIG.encode()
    assert dry.splitlines()[-1] == "3 feed(s) added, 3 skipped (dry run: nothing written)"
    code, real, _ = cli(capsys, "--config", str(config_file), "feeds", "import", str(opml_file))
    assert code == 0 and dry.splitlines()[:-1] == real.splitlines()[:-1]


def test_an_import_that_would_break_the_config_is_refused(config_file: Path, opml_file: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    for extra in ([], ["--dry-run"]):
        code, out, err = cli(capsys, "--config", str(config_file), "feeds", "import", str(opml_file),
                             "--interval", "often", *extra)
        line = one_line(err)
        assert code == 1 and out == ""
        assert f"{config_file.resolve()}: feeds[2].interval: invalid duration 'often'" in line
        assert "edit refused" in line and "not changed" in line
        assert config_file.read_bytes() == CONFIG.encode()
    assert sorted(p.name for p in config_file.parent.iterdir()) == ["monitor.toml", "refs"]


def test_add_feeds_validates_with_the_config_rules(config_file: Path) -> None:
    with pytest.raises(ConfigError, match=r"feeds\[2\]\.name: duplicate feed name 'example-news'"):
        add_feeds(config_file, [{"name": "example-news", "url": "https://other.example.org/rss"}])
    with pytest.raises(ConfigError, match=r"feeds\[2\]\.url: invalid URL 'ftp://x.example.org/f'"):
        add_feeds(config_file, [{"name": "ftp", "url": "ftp://x.example.org/f"}])
    assert config_file.read_bytes() == CONFIG.encode()
    assert add_feeds(config_file, [{"title": "Example News", "url": "https://b.example.org/rss"},
                                   {"name": "kept_as_given", "url": "https://c.example.org/rss",
                                    "fetch_full_text": False}]) == ["example-news-2", "kept_as_given"]
    feeds = load_config(config_file).feeds
    assert [(f.name, f.fetch_full_text) for f in feeds[2:]] == [("example-news-2", True), ("kept_as_given", False)]


def test_edit_config_is_a_base_that_keeps_comments(config_file: Path) -> None:
    def add_term(document: tomlkit.TOMLDocument) -> int:
        terms = document["topics"][0]["keywords"]["india"]
        terms.append("Jaishankar")
        return len(terms)

    assert edit_config(config_file, add_term) == 2
    text = config_file.read_text(encoding="utf-8")
    assert 'india = ["Modi", "Jaishankar"]    # one side' in text
    assert text.replace(', "Jaishankar"', "") == CONFIG

    def empty_group(document: tomlkit.TOMLDocument) -> None:
        document["topics"][0]["keywords"]["russia"] = []

    before = config_file.read_bytes()
    expected = r"topics\[0\] \('summit'\)\.keywords\.russia: keyword group 'russia' is empty"
    with pytest.raises(ConfigError, match=expected):
        edit_config(config_file, empty_group)
    assert config_file.read_bytes() == before


def test_reference_globs_resolve_against_the_config_folder(config_file: Path) -> None:
    (config_file.parent / "refs" / "summit.md").unlink()
    with pytest.raises(ConfigError, match=r"reference_documents: 'refs/\*\.md' matches no file"):
        add_feeds(config_file, [{"title": "x", "url": "https://x.example.org/rss"}])
    assert config_file.read_bytes() == CONFIG.encode()


def test_an_inline_feeds_array_gets_the_new_feeds(tmp_path: Path) -> None:
    path = tmp_path / "inline.toml"
    original = 'feeds = [\n    { name = "a", url = "https://a.example.org/rss" },  # first\n]\n'
    path.write_text(original, encoding="utf-8")
    assert add_feeds(path, [{"title": "A", "url": "https://a2.example.org/rss"}]) == ["a-2"]
    assert "# first" in path.read_text(encoding="utf-8")
    assert [f.name for f in load_config(path).feeds] == ["a", "a-2"]


def test_crlf_files_stay_crlf(tmp_path: Path) -> None:
    path = tmp_path / "windows.toml"
    original = b'# from Windows\r\n[[feeds]]\r\nname = "a"\r\nurl = "https://a.example.org/rss"\r\n'
    path.write_bytes(original)
    add_feeds(path, [{"title": "B", "url": "https://b.example.org/rss"}])
    data = path.read_bytes()
    assert data.startswith(original) and b"\n" not in data.replace(b"\r\n", b"")
    assert [f.name for f in load_config(path).feeds] == ["a", "b"]


def test_feed_names_are_ascii_slugs_unique_and_short() -> None:
    assert feed_name("Reuters: World News", "https://r.example.org/") == "reuters-world-news"
    assert feed_name("Le Monde — À la une", "https://m.example.org/") == "le-monde-a-la-une"
    assert feed_name("ТАСС", "https://www.tass.ru/rss") == "tass-ru"  # nothing ASCII: the host
    assert feed_name("", "https://x.example.org/") == "x-example-org"
    assert feed_name("News", "https://x.example.org/", {"news", "news-2"}) == "news-3"
    long_title = "Breaking " * 20
    name = feed_name(long_title, "https://x.example.org/")
    assert len(name) <= 64 and name.startswith("breaking-breaking") and not name.endswith("-")
    second = feed_name(long_title, "https://x.example.org/", {name})
    assert len(second) <= 64 and second.endswith("-2") and second != name


def test_export_prints_valid_escaped_opml_that_round_trips(config_file: Path, opml_file: Path, tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(capsys, "--config", str(config_file), "feeds", "import", str(opml_file))[0] == 0
    code, exported, err = cli(capsys, "--config", str(config_file), "feeds", "export")
    assert code == 0, err
    root = ElementTree.fromstring(exported.encode("utf-8"))
    assert root.tag == "opml" and root.get("version") == "2.0"
    assert root.findtext("head/title") and root.findtext("head/dateCreated")
    outlines = root.findall("body/outline")
    assert {o.get("type") for o in outlines} == {"rss"}
    configured = [f.url for f in load_config(config_file).feeds]
    assert [o.get("xmlUrl") for o in outlines] == configured
    assert "a=1&amp;b=2" in exported  # escaped by ElementTree
    assert [f.url for f in parse_opml(exported.encode(), "export").feeds] == configured

    # Into an empty config: the same feeds, under the same names.
    output = tmp_path / "out.opml"
    code, _, err = cli(capsys, "--config", str(config_file), "feeds", "export", "--output", str(output))
    assert code == 0 and err.strip() == f"exported 5 feed(s) to {output}"
    written = output.read_text(encoding="utf-8")
    assert written.replace(_created(written), "") == exported.replace(_created(exported), "")
    fresh = tmp_path / "fresh.toml"
    fresh.write_text("# empty\n", encoding="utf-8")
    assert cli(capsys, "--config", str(fresh), "feeds", "import", str(output))[0] == 0
    assert [(f.name, f.url) for f in load_config(fresh).feeds] == \
        [(f.name, f.url) for f in load_config(config_file).feeds]


def _created(document: str) -> str:
    return ElementTree.fromstring(document.encode()).findtext("head/dateCreated") or ""


def test_export_opml_escapes_everything_and_dates_in_rfc_822() -> None:
    import datetime as dt

    feeds = [FeedSettings(name='Tom & "Jerry" <cartoons>', url="https://e.example.org/rss?a=1&b=<2>"),
             FeedSettings(name="bell\x07", url="https://f.example.org/rss")]
    text = export_opml(feeds, title="Mine & yours",
                       now=dt.datetime(2025, 9, 1, 14, 30, tzinfo=dt.timezone(dt.timedelta(hours=5, minutes=30))))
    assert text.startswith('<?xml version="1.0" encoding="UTF-8"?>\n<opml version="2.0">')
    root = ElementTree.fromstring(text.encode("utf-8"))
    assert root.findtext("head/title") == "Mine & yours"
    assert root.findtext("head/dateCreated") == "Mon, 01 Sep 2025 09:00:00 GMT"
    first, second = root.findall("body/outline")
    assert first.attrib == {"type": "rss", "text": 'Tom & "Jerry" <cartoons>', "title": 'Tom & "Jerry" <cartoons>',
                            "xmlUrl": "https://e.example.org/rss?a=1&b=<2>"}
    assert second.get("text") == "bell"  # a character XML cannot carry at all is dropped, not written raw
    parsed = parse_opml(text.encode())
    assert [(o.title, o.url) for o in parsed.feeds] == [('Tom & "Jerry" <cartoons>', feeds[0].url),
                                                         ("bell", feeds[1].url)]


def test_parse_reads_opml_1_in_its_declared_encoding() -> None:
    data = ('<?xml version="1.0" encoding="ISO-8859-1"?>\n<opml version="1.0"><head/><body>'
            '<outline title="Caf\xe9 news" xmlurl=" http://cafe.example.org/rss " htmlUrl="http://cafe.example.org/"/>'
            "</body></opml>").encode("latin-1")
    parsed = parse_opml(data, "old.opml")
    assert parsed.skipped == []
    (feed,) = parsed.feeds
    assert (feed.title, feed.url, feed.html_url, feed.category) == \
        ("Café news", "http://cafe.example.org/rss", "http://cafe.example.org/", None)


BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE opml [
  <!ENTITY lol "lol">
  <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
  <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
  <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
  <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
  <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
  <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
  <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
  <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
  <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<opml version="2.0"><body><outline text="&lol9;" xmlUrl="https://bomb.example.org/&lol9;"/></body></opml>
"""


@pytest.mark.parametrize("content, message", [
    ('<?xml version="1.0"?>\n<opml version="2.0">\n<body>\n<outline text="a" xmlUrl="http://a.example.org/"\n'
     "</body></opml>\n", "not valid XML: not well-formed (invalid token): line 5, column 0"),
    ("<opml><body><outline text='&nbsp;' xmlUrl='http://a.example.org/'/></body></opml>",
     "not valid XML: undefined entity: line 1, column 12"),
    ("", "not valid XML: no element found: line 1, column 0"),
    ('<?xml version="1.0"?><rss version="2.0"><channel><title>A feed</title></channel></rss>',
     "not an OPML document (the root element is <rss>, expected <opml>)"),
    ('<opml version="2.0"><head><title>t</title></head></opml>', "not an OPML document (no <body>)"),
    ('<opml version="2.0"><head/><body><outline text="Empty folder"/></body></opml>',
     "no feeds in this OPML (no <outline> with an xmlUrl)"),
    (BILLION_LAUGHS, "refused: the document declares an XML entity 'lol'; entities are not expanded (they can be a "
                     "billion-laughs bomb)"),
])
def test_bad_opml_is_refused_in_one_line(content: str, message: str, config_file: Path, tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bad.opml"
    path.write_text(content, encoding="utf-8")
    code, out, err = cli(capsys, "--config", str(config_file), "feeds", "import", str(path))
    assert code == 1 and out == ""
    assert one_line(err) == f"news-monitor: error: {path}: {message}"
    assert "lollol" not in err
    assert config_file.read_bytes() == CONFIG.encode()


def test_xxe_never_reads_the_local_file(config_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("s3cret-token-7f1c\n", encoding="utf-8")
    targets = [secret.as_uri(), "file:///etc/hostname"]
    hostname = Path("/etc/hostname").read_text().strip() if Path("/etc/hostname").is_file() else ""
    leaks = ["s3cret-token-7f1c", *([hostname] if len(hostname) > 3 else [])]
    for number, target in enumerate(targets):
        path = tmp_path / f"xxe{number}.opml"
        path.write_text(f'<?xml version="1.0"?>\n<!DOCTYPE opml [<!ENTITY xxe SYSTEM "{target}">]>\n'
                        '<opml version="2.0"><body><outline text="&xxe;" xmlUrl="https://x.example.org/&xxe;"/>'
                        "</body></opml>\n", encoding="utf-8")
        for extra in ([], ["--dry-run"]):
            code, out, err = cli(capsys, "--config", str(config_file), "feeds", "import", str(path), *extra)
            assert code == 1 and out == ""
            assert one_line(err) == (f"news-monitor: error: {path}: refused: the document declares an external "
                                     f"entity 'xxe' ({target}); external entities are never fetched")
            config_text = config_file.read_text(encoding="utf-8")
            for leak in leaks:
                assert leak not in out + err.replace(str(tmp_path), "") and leak not in config_text
    assert config_file.read_bytes() == CONFIG.encode()


def test_external_dtd_and_entities_are_never_fetched(httpserver: HTTPServer, tmp_path: Path) -> None:
    httpserver.expect_request("/evil.dtd").respond_with_data('<!ENTITY x "pwned">')
    httpserver.expect_request("/entity").respond_with_data("pwned")
    dtd_only = (f'<?xml version="1.0"?>\n<!DOCTYPE opml SYSTEM "{httpserver.url_for("/evil.dtd")}">\n'
                '<opml version="2.0"><body><outline text="A" xmlUrl="https://a.example.org/rss"/></body></opml>')
    assert [o.url for o in parse_opml(dtd_only.encode(), "dtd.opml").feeds] == ["https://a.example.org/rss"]
    parameter = (f'<?xml version="1.0"?>\n<!DOCTYPE opml [<!ENTITY % p SYSTEM "{httpserver.url_for("/evil.dtd")}">'
                 ' %p;]>\n<opml version="2.0"><body/></opml>')
    with pytest.raises(ConfigError, match=r"^param\.opml: refused: the document declares an external entity 'p'"):
        parse_opml(parameter.encode(), "param.opml")
    general = (f'<?xml version="1.0"?>\n<!DOCTYPE opml [<!ENTITY e SYSTEM "{httpserver.url_for("/entity")}">]>\n'
               '<opml version="2.0"><body><outline text="&e;" xmlUrl="https://a.example.org/rss"/></body></opml>')
    with pytest.raises(ConfigError, match=r"refused: the document declares an external entity 'e'"):
        parse_opml(general.encode(), "general.opml")
    assert httpserver.log == []


def test_missing_files_are_one_line_errors(config_file: Path, tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nope.opml"
    code, _, err = cli(capsys, "--config", str(config_file), "feeds", "import", str(missing))
    assert code == 1 and one_line(err) == f"news-monitor: error: {missing}: cannot read OPML file: No such file or " \
                                          "directory"
    opml = tmp_path / "one.opml"
    opml.write_text('<opml><body><outline text="a" xmlUrl="https://a.example.org/"/></body></opml>')
    code, _, err = cli(capsys, "--config", str(tmp_path / "none.toml"), "feeds", "import", str(opml))
    assert code == 1 and one_line(err) == f"news-monitor: error: {tmp_path / 'none.toml'}: config file not found"


def test_the_installed_command_imports_from_the_environment_config(config_file: Path, opml_file: Path) -> None:
    """The real entry point, in a child process: NEWS_MONITOR_CONFIG names the file to edit."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWS_MONITOR_")}
    env["NEWS_MONITOR_CONFIG"] = str(config_file)
    result = subprocess.run([sys.executable, "-m", "monitor", "feeds", "import", str(opml_file)], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == f"3 feed(s) added, 3 skipped (written to {config_file})"
    assert config_file.read_text(encoding="utf-8").startswith(CONFIG)
    help_text = subprocess.run([sys.executable, "-m", "monitor", "feeds", "--help"], cwd=REPO, env=env,
                               capture_output=True, text=True, timeout=120).stdout
    assert "import" in help_text and "export" in help_text
