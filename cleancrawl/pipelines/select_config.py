"""Options of the `select` stage (pipelines.select), without importing Beam, so that the
CLI's parser and `pipelines.config` stay quick to import. The fields' metadata are the
command-line options (cleancrawl/options.py)."""
from __future__ import annotations

from dataclasses import asdict, dataclass

from cleancrawl.options import option

JOIN_MODES = ("auto", "side-input", "cogroup")
DEFAULT_SIDE_INPUT_MAX_URLS = 1_000_000


@dataclass(frozen=True)
class SelectConfig:
    urls: str | None = option(None, flag="--select-urls", metavar="PATH", help=(
        "keep only pages whose normalised URL is listed: a `cleancrawl reddit-urls` output directory, a Parquet "
        "file/glob with a normalized_url or url column, or a plain URL list (one a line, any compression, as "
        "OpenWebText distributes)"))
    domains: str | None = option(None, flag="--select-domains", metavar="JSON", help=(
        "keep only pages whose registered domain is in this allowlist "
        "({\"domain\": [allowed subdomains] or true}, Grover/RealNews format)"))
    join: str = option("auto", flag="--select-join", choices=JOIN_MODES, help=(
        "how --select-urls is joined: side-input (table in each worker's memory, ~300 B a URL), "
        "cogroup (a shuffle, any size), or auto by table size (default)"))
    side_input_max_urls: int = option(DEFAULT_SIDE_INPUT_MAX_URLS, help=(
        "auto: largest table joined as a side input (default: %(default)s)"))

    @property
    def enabled(self) -> bool:
        return bool(self.urls or self.domains)

    def to_dict(self) -> dict:
        return asdict(self)
