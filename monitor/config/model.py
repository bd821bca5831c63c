"""The settings models: one typed, validated table of settings.

``config/monitor.toml`` overlays the defaults declared here. Every setting has a type, a default and a
check; an unknown key is an error. Reading the file, and turning a validation error into one line that
names the file, the key path (``topics[0].keywords.russia_side``) and what is wrong, is ``load.py``'s work.
The units (``Duration``, ``Size``) are ``units.py``'s.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from monitor.config.lines import suggest
from monitor.config.units import Duration, DurationOrZero, Size, parse_duration
from monitor.errors import ConfigError

_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


def _error_at(key: tuple[str | int, ...], message: str) -> PydanticCustomError:
    """A validation error about ``key`` below the value being validated (its path continues with ``key``)."""
    return PydanticCustomError("config_error", message, {"key": key})


def _check_http_url(value: str) -> str:
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"invalid URL {value!r} (expected an http:// or https:// URL)")
    return value.strip()


def _check_proximity(value: Any) -> Any:
    if value == "sentence" or (isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 1000):
        return value
    raise ValueError(f"invalid proximity {value!r} (expected \"sentence\" or a number of words from 1 to 1000)")


class _Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class StorageSettings(_Settings):
    url: str = "sqlite:///data/news-monitor.sqlite3"
    lock_timeout: Duration = 30.0  # how long a SQLite writer waits for another one before giving up
    auto_migrate: StrictBool = False  # PostgreSQL: upgrade the schema at start (SQLite always does)


class NetworkSettings(_Settings):
    allow_private_addresses: StrictBool = False
    connect_timeout: Duration = 10.0
    read_timeout: Duration = 20.0
    total_timeout: Duration = 60.0
    max_body_size: Size = 10 * 1024 * 1024  # bytes received (compressed or not), counted while streaming
    max_decompressed_size: Size = 20 * 1024 * 1024  # bytes after gzip/deflate/brotli: stops decompression bombs
    max_redirects: int = Field(default=5, ge=0, le=30)
    user_agent: str = "news-monitor/0.1 (+https://github.com/news-monitor/news-monitor)"


class SchedulerSettings(_Settings):
    jitter: DurationOrZero = 30.0  # added to each wait: up to this, and up to 10% of it; 0 for none
    max_workers: int = Field(default=4, ge=1, le=64)  # feeds polled at once, over all hosts
    max_per_host: int = Field(default=2, ge=1, le=64)  # requests at once to one host (host:port)
    min_interval: Duration = 300.0  # bounds of the adaptive interval and of server hints (ttl, max-age)
    max_interval: Duration = 4 * 3600.0
    default_interval: Duration = 900.0  # an adaptive feed's interval until its entries tell us better
    max_backoff: Duration = 6 * 3600.0  # cap of the exponential backoff of a failing feed, and of Retry-After
    shutdown_grace: Duration = 30.0  # on SIGTERM, how long polls in flight may take to finish
    takeover: Duration = 120.0  # workers (PostgreSQL): a dead worker's feed is polled by another within this

    @model_validator(mode="after")
    def _bounds(self) -> SchedulerSettings:
        if self.min_interval > self.max_interval:
            raise _error_at(("min_interval",), f"min_interval ({self.min_interval:g}s) is longer than max_interval "
                                               f"({self.max_interval:g}s)")
        return self


class ExtractSettings(_Settings):
    """Text extraction (trafilatura) runs in worker processes, each page under a deadline and a memory cap: a
    page that exceeds either fails alone (ExtractionFailed ``timeout`` or ``too_large``, stage ``extract``),
    its worker is replaced, and the entry keeps the feed's own text."""

    timeout: Duration = 10.0  # wall-clock time one page may take; then its worker is killed
    max_memory: Size = 512 * 1024**2  # address space of each worker (RLIMIT_AS), the interpreter included
    workers: int | None = Field(default=None, ge=1, le=64)  # processes; by default one per CPU core


def _check_interval(value: Any) -> Any:
    return "adaptive" if isinstance(value, str) and value.strip().lower() == "adaptive" else parse_duration(value)


class FeedSettings(_Settings):
    name: str
    url: str
    # "adaptive" (the default): from the feed's observed entry frequency, within the scheduler's bounds;
    # or a fixed duration such as "15m".
    interval: Annotated[Literal["adaptive"] | float, BeforeValidator(_check_interval)] = "adaptive"
    fetch_full_text: bool = True

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("feed name must not be empty")
        return value.strip()

    _url = field_validator("url")(classmethod(lambda cls, v: _check_http_url(v)))


class Rule(_Settings):
    """A boolean rule over keyword groups: exactly one of ``all``, ``any``, ``not``, or a group name."""

    all: list[RuleNode] | None = None
    any: list[RuleNode] | None = None
    not_: RuleNode | None = Field(default=None, alias="not")

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @model_validator(mode="after")
    def _one_operator(self) -> Rule:
        given = [k for k in ("all", "any", "not_") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("a rule needs exactly one of 'all', 'any' or 'not'")
        if (self.all is not None and not self.all) or (self.any is not None and not self.any):
            raise ValueError("'all' and 'any' need at least one member")
        return self

    def groups(self) -> set[str]:
        members = self.all or self.any or [self.not_]
        out: set[str] = set()
        for member in members:
            out |= {member} if isinstance(member, str) else member.groups()
        return out


RuleNode = str | Rule
Rule.model_rebuild()


class FieldWeights(_Settings):
    """The rule part of a topic's score, by where the rule holds: in the title, in a first sentence of the
    text, for each further sentence. Their sum is capped at 1; the title counts more than a sentence."""

    title: float = Field(default=1.0, ge=0.0, le=1.0)
    text: float = Field(default=0.7, ge=0.0, le=1.0)
    further_text: float = Field(default=0.1, ge=0.0, le=1.0)
    # When every group of the rule occurs in the article but never together in one title or sentence.
    scattered: float = Field(default=0.3, ge=0.0, le=1.0)


# What the tagger finds besides the configured keyword groups, for a topic with ``sides``: a leader,
# minister or official of a country that is neither side (monitor.tagging.participants).
COMPUTED_GROUPS = frozenset({"third_country"})


class SideSettings(_Settings):
    """One side of the meeting a topic watches: its country, and the keyword groups that name it."""

    country: str  # ISO 3166-1 alpha-2, e.g. "IN"
    groups: list[str] = []
    # The group of its leaders and foreign ministers: a leader's title with the side's country ("his Russian
    # counterpart", "भारत के प्रधानमंत्री") counts as that group.
    leaders: str | None = None

    @field_validator("country")
    @classmethod
    def _country(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Za-z]{2}", value):
            raise ValueError(f"invalid country code {value!r} (ISO 3166-1 alpha-2, e.g. \"IN\")")
        return value.upper()


class PersonSettings(_Settings):
    """A person of one side, by the name the timeline and digests show, with every form it is written in."""

    side: str
    role: Literal["leader", "minister", "official"] = "leader"
    names: list[str]


class TopicSettings(_Settings):
    id: str
    title: str
    keywords: dict[str, list[str]]
    rule: RuleNode | None = None
    proximity: Annotated[Literal["sentence"] | int, BeforeValidator(_check_proximity)] = "sentence"
    # Sentences that speak of the topic without naming it in full ("The last Summit was held on July 8-9, 2024
    # in Moscow"): in an article that matches, they are shown as evidence, marked context, with their dates.
    # They do not count for the score.
    context_rule: RuleNode | None = None
    # Phrases whose words never count as keywords: "Indian Ocean", "Indian Wells", "meeting ... demand*"
    # ("..." stands for up to three words).
    exclusions: list[str] = []
    field_weights: FieldWeights = FieldWeights()
    # A sentence whose every date ended more than this many days before the article was published looks back
    # at history ("his last visit to Russia in 2018"): it is shown, marked history, but does not count.
    # 0 turns this off.
    history_days: int = Field(default=180, ge=0, le=100_000)
    # Phrases that say a sentence recalls the past, whatever its dates ("It may be recalled that", "Напомним",
    # "गौरतलब है कि"): it is shown, marked history, and does not count.
    history_markers: list[str] = []
    reference_documents: list[str] = []
    threshold: float = Field(default=0.5, ge=0.0, le=1.0)
    possible_threshold: float = Field(default=0.3, ge=0.0, le=1.0)
    similarity_weight: float = Field(default=0.25, ge=0.0, le=1.0)
    # How many recent articles the similarity model learns word weights from, beside the reference documents
    # (0: the references alone).
    similarity_background: int = Field(default=2000, ge=0, le=1_000_000)
    # After a change to this topic's keywords or rules (hot reload), retag the articles published within this
    # window (e.g. "7d"); unset: retag only when asked (`news-monitor retag`).
    retag_on_change: Duration | None = None
    # The two sides of the meeting (e.g. india = { country = "IN", groups = ["india_leader", "india_side"] }).
    # With sides set, a sentence's participants are found: the people below, titles (the keyword groups
    # leader_title and official_title) with the country beside them, and any other country's leader or
    # official, which makes the group "third_country" for the rules.
    sides: dict[str, SideSettings] = {}
    people: dict[str, PersonSettings] = {}

    @field_validator("id")
    @classmethod
    def _id(cls, value: str) -> str:
        if not _ID.match(value):
            raise ValueError(f"invalid topic id {value!r} (lowercase letters, digits, '-' and '_')")
        return value

    @field_validator("keywords")
    @classmethod
    def _keywords(cls, groups: dict[str, list[str]]) -> dict[str, list[str]]:
        if not groups:
            raise ValueError("a topic needs at least one keyword group")
        for name, terms in groups.items():
            cleaned = [t for t in terms if t.strip()]
            if not cleaned:
                raise _error_at((name,), f"keyword group {name!r} is empty")
        return groups

    @model_validator(mode="after")
    def _rule_names_groups(self) -> TopicSettings:
        for key, rule in (("rule", self.effective_rule()), ("context_rule", self.context_rule)):
            if rule is None:
                continue
            used = {rule} if isinstance(rule, str) else rule.groups()
            unknown = sorted(used - set(self.keywords) - (COMPUTED_GROUPS if self.sides else set()))
            if unknown:
                raise _error_at(
                    (key,), f"{key.replace('_', ' ')} names unknown keyword group {unknown[0]!r}"
                            f"{suggest(unknown[0], self.keywords)}"
                )
        return self

    @model_validator(mode="after")
    def _sides_name_groups(self) -> TopicSettings:
        for name, side in self.sides.items():
            for group in (*side.groups, *([side.leaders] if side.leaders else [])):
                if group not in self.keywords:
                    raise _error_at(("sides", name), f"side {name!r} names unknown keyword group {group!r}"
                                                     f"{suggest(group, self.keywords)}")
        for name, person in self.people.items():
            if person.side not in self.sides:
                raise _error_at(("people", name), f"person {name!r} has unknown side {person.side!r}"
                                                  f"{suggest(person.side, self.sides)}")
        return self

    def effective_rule(self) -> RuleNode:
        """The rule, or by default: every keyword group must meet."""
        return self.rule if self.rule is not None else Rule(all=list(self.keywords))


def _check_crontab(value: Any) -> Any:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError(f"invalid cron schedule {value!r} (expected e.g. \"0 8 * * *\")")
    from apscheduler.triggers.cron import CronTrigger

    try:
        CronTrigger.from_crontab(value.strip(), timezone="UTC")
    except ValueError as exc:
        raise ValueError(f"invalid cron schedule {value!r} ({exc}; expected five fields: minute hour day "
                         "month weekday, e.g. \"0 8 * * *\")") from None
    return " ".join(value.split())


def _check_timezone(value: Any) -> Any:
    import zoneinfo

    try:
        zoneinfo.ZoneInfo(str(value))
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {value!r} (expected e.g. \"UTC\" or \"Asia/Kolkata\")") from None
    return value


class _Channel(_Settings):
    name: str | None = None  # how events and logs name the channel; by default its type and position


class EmailChannel(_Channel):
    """SMTP email with a text and an HTML part."""

    type: Literal["email"]
    smtp_host: str
    smtp_port: int = Field(default=587, ge=1, le=65535)
    security: Literal["starttls", "ssl", "none"] = "starttls"
    username: str | None = None
    password: str | None = None
    password_env: str | None = None  # read the password from this environment variable instead
    sender: str = Field(alias="from")
    to: list[str] = Field(min_length=1)
    subject: str = "news-monitor digest: {mentions} new mention(s)"
    timeout: Duration = 30.0

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class WebhookChannel(_Channel):
    """An HTTP POST of the digest as JSON, signed with HMAC-SHA256 in a header."""

    type: Literal["webhook"]
    url: str
    secret: str | None = None
    secret_env: str | None = None  # read the secret from this environment variable instead
    timeout: Duration = 30.0

    _url = field_validator("url")(classmethod(lambda cls, v: _check_http_url(v)))


class AppriseChannel(_Channel):
    """Any Apprise URL (Slack, Telegram, Matrix, ntfy, Discord, mailto://, json://...)."""

    type: Literal["apprise"]
    url: str | None = None
    url_env: str | None = None  # read the URL (it often holds a token) from this environment variable

    @model_validator(mode="after")
    def _one_url(self) -> AppriseChannel:
        if (self.url is None) == (self.url_env is None):
            raise ValueError("an apprise channel needs exactly one of 'url' or 'url_env'")
        return self


Channel = Annotated[EmailChannel | WebhookChannel | AppriseChannel, Field(discriminator="type")]


class DigestSettings(_Settings):
    # Cron syntax (minute hour day month weekday), e.g. "0 8 * * *" for 08:00 every day; unset: no scheduled
    # digests. On schedule the daemon records DigestIssued, writes the digest to output_dir and sends it.
    schedule: Annotated[str | None, BeforeValidator(_check_crontab)] = None
    timezone: Annotated[str, BeforeValidator(_check_timezone)] = "UTC"
    # Where issued digests are written; relative paths resolve against the working directory, like the SQLite
    # file of [storage] url.
    output_dir: str = "data/digests"
    formats: list[Literal["html", "markdown", "json", "atom", "text"]] = ["html", "markdown", "json"]
    send_empty: StrictBool = False  # also send a digest with no new mention
    retries: int = Field(default=3, ge=0, le=20)  # tries after a channel's first failure
    retry_delay: Duration = 30.0  # before the first retry; doubled for each further one
    channels: list[Channel] = []

    def channel_names(self) -> list[str]:
        """Each channel's name: its own, or its type and position ("webhook-2")."""
        return [c.name or f"{c.type}-{i + 1}" for i, c in enumerate(self.channels)]


class WebSettings(_Settings):
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=1, le=65535)
    # Required by every action that writes (mark reviewed), when set. token_env reads it from the environment.
    token: str | None = None
    token_env: str | None = None
    # The address the page is reached at, for the links of /feed.atom (e.g. "https://monitor.example.org");
    # by default the address of each request.
    base_url: str | None = None
    page_size: int = Field(default=100, ge=1, le=5000)
    # The names the page answers to in the Host header (a DNS-rebinding page sends its own name: refused with
    # 400). By default the bound host, localhost, 127.0.0.1, [::1] and base_url's host; "*.example.org" allows
    # its subdomains, "*" any name (behind a proxy that checks it).
    allowed_hosts: list[str] | None = None

    def hosts_allowed(self) -> list[str]:
        """``allowed_hosts``, or the default: the names a page bound to ``host`` is reached by on this machine."""
        if self.allowed_hosts is not None:
            return [h.strip().lower() for h in self.allowed_hosts]
        hosts = [self.host.lower(), "localhost", "127.0.0.1", "[::1]"]
        if ":" in self.host and not self.host.startswith("["):
            hosts[0] = f"[{self.host.lower()}]"
        if self.base_url:
            hosts.append((urlsplit(self.base_url).hostname or "").lower())
        return list(dict.fromkeys(h for h in hosts if h))


class Config(_Settings):
    storage: StorageSettings = StorageSettings()
    network: NetworkSettings = NetworkSettings()
    scheduler: SchedulerSettings = SchedulerSettings()
    extract: ExtractSettings = ExtractSettings()
    digest: DigestSettings = DigestSettings()
    web: WebSettings = WebSettings()
    feeds: list[FeedSettings] = []
    topics: list[TopicSettings] = []

    # Where the file was read from; reference documents resolve relative to its folder.
    source: Path | None = Field(default=None, exclude=True)

    @model_validator(mode="after")
    def _unique_names(self) -> Config:
        for kind, key, attr, names in (("feed name", "feeds", "name", [f.name for f in self.feeds]),
                                       ("topic id", "topics", "id", [t.id for t in self.topics])):
            seen: dict[str, int] = {}
            for index, name in enumerate(names):
                if name in seen:
                    raise _error_at((key, index, attr),
                                    f"duplicate {kind} {name!r} (already used by {key}[{seen[name]}])")
                seen[name] = index
        return self

    def feed(self, name: str) -> FeedSettings:
        for feed in self.feeds:
            if feed.name == name:
                return feed
        raise ConfigError(f"no feed named {name!r}{suggest(name, [f.name for f in self.feeds])}")

    @property
    def base_dir(self) -> Path:
        return self.source.parent if self.source else Path.cwd()

    def reference_paths(self, topic: TopicSettings) -> list[Path]:
        paths: list[Path] = []
        for pattern in topic.reference_documents:
            full = pattern if os.path.isabs(pattern) else str(self.base_dir / pattern)
            paths.extend(Path(p) for p in sorted(glob.glob(full, recursive=True)) if Path(p).is_file())
        return paths

    def topic_version(self, topic: TopicSettings) -> str:
        """A short hash of everything that decides a topic's tags: rules, terms and reference texts."""
        # retag_on_change says when to retag, not how to tag: it is not part of the version.
        decisive = topic.model_dump(mode="json", by_alias=True, exclude={"retag_on_change"})
        digest = hashlib.sha256(json.dumps(decisive, sort_keys=True).encode())
        for path in self.reference_paths(topic):
            digest.update(path.name.encode())
            digest.update(path.read_bytes())
        return digest.hexdigest()[:12]
