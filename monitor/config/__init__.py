"""The configuration: ``config/monitor.toml`` read into validated, typed settings, or errors that say where.

``model`` declares the settings (each with a type, a default and a check), in the durations and sizes of
``units``; ``load`` reads the file once, applies the environment's NEWS_MONITOR_<SECTION>_<KEY> overrides
and reports each problem as one line, ``FILE:LINE: key.path: problem``. ``lines`` finds a key's line and says
"did you mean"; ``edit`` changes the file keeping its comments, ``opml`` imports and exports feed lists,
``diff`` compares two configs (hot reload). The rest of the app imports what it needs from here.
"""

from monitor.config.load import (
    DEFAULT_CONFIG_PATH,
    config_errors,
    config_from_dict,
    env_overrides,
    load_config,
    resolve_config_path,
)
from monitor.config.model import (
    Config,
    DigestSettings,
    Duration,
    ExtractSettings,
    FeedSettings,
    NetworkSettings,
    Rule,
    RuleNode,
    SchedulerSettings,
    Size,
    StorageSettings,
    TopicSettings,
    WebSettings,
)
from monitor.config.units import parse_duration, parse_size
from monitor.errors import ConfigError, InvalidConfig

__all__ = [
    "DEFAULT_CONFIG_PATH",
    "Config",
    "ConfigError",
    "DigestSettings",
    "Duration",
    "ExtractSettings",
    "FeedSettings",
    "InvalidConfig",
    "NetworkSettings",
    "Rule",
    "RuleNode",
    "SchedulerSettings",
    "Size",
    "StorageSettings",
    "TopicSettings",
    "WebSettings",
    "config_errors",
    "config_from_dict",
    "env_overrides",
    "load_config",
    "parse_duration",
    "parse_size",
    "resolve_config_path",
]
