"""bitcache.config: a node's one configuration file, ``bitcache.toml``.

- ``sections``: one frozen dataclass per section (``[node]``, ``[database]``,
  ``[chain]``, ``[deposits]``, ``[settlement]``, ``[payout]``, ``[splits]``,
  ``[holds]``, ``[serve]``, ``[logging]``, ``[events]``, ``[metrics]``), each
  key with its kind, default and description;
- ``spec``: the checkers of a key's kind, whose errors name the key;
- ``loader``: the file, the ``BITCACHE_<SECTION>_<KEY>`` environment and a
  node's older ``config.json`` read, each value checked;
- ``node``: :class:`NodeConfig`, the effective configuration (``load``
  puts the values together and checks the whole) and the library objects
  it makes (settlement knobs, policies, wallet, chain);
- ``render``: the TOML text ``bitcache init`` writes, and the masked view;
- ``paths``: node-folder paths, database URLs, secrets read from files.

Used by the CLI, ``bitcache serve`` and a storage server alike::

    cfg = bitcache.config.NodeConfig.load(Path("bitcache-node"))
    hooks = Hooks.open(cfg.db, **cfg.hooks_options())

Exported lazily (:mod:`bitcache.lazy`): importing the package loads nothing.
"""

from typing import TYPE_CHECKING

from bitcache.lazy import exports

_EXPORTS: dict[str, tuple[str, ...]] = {
    "bitcache.config.loader": ("CONFIG_FILE", "LEGACY_CONFIG_FILE", "env_name"),
    "bitcache.config.node": ("NodeConfig", "load"),
    "bitcache.config.render": ("save", "to_toml"),
}

if TYPE_CHECKING:
    from bitcache.config.loader import CONFIG_FILE, LEGACY_CONFIG_FILE, env_name
    from bitcache.config.node import NodeConfig, load
    from bitcache.config.render import save, to_toml
else:
    __getattr__, __dir__ = exports(__name__, _EXPORTS)

__all__ = [
    "CONFIG_FILE",
    "LEGACY_CONFIG_FILE",
    "NodeConfig",
    "env_name",
    "load",
    "save",
    "to_toml",
]
