"""Options of the `select` stage (pipelines.select), without importing Beam, so that the
CLI's parser and `pipelines.config` stay quick to import."""
from __future__ import annotations

import argparse
from dataclasses import asdict, dataclass

JOIN_MODES = ("auto", "side-input", "cogroup")
DEFAULT_SIDE_INPUT_MAX_URLS = 1_000_000


@dataclass(frozen=True)
class SelectConfig:
    urls: str | None = None           # --select-urls: reddit-urls output, a Parquet table, or a URL list
    domains: str | None = None        # --select-domains: allowlist JSON
    join: str = "auto"                # auto | side-input | cogroup
    side_input_max_urls: int = DEFAULT_SIDE_INPUT_MAX_URLS

    @property
    def enabled(self) -> bool:
        return bool(self.urls or self.domains)

    def to_dict(self) -> dict:
        return asdict(self)


def add_select_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("selection (WebText-like / RealNews-like; before the C4 filters)")
    group.add_argument("--select-urls", metavar="PATH",
                       help="keep only pages whose normalised URL is listed: a `cleancrawl reddit-urls` output "
                            "directory, a Parquet file/glob with a normalized_url or url column, or a plain "
                            "URL list (one a line, any compression, as OpenWebText distributes)")
    group.add_argument("--select-domains", metavar="JSON",
                       help="keep only pages whose registered domain is in this allowlist "
                            "({\"domain\": [allowed subdomains] or true}, Grover/RealNews format)")
    group.add_argument("--select-join", choices=JOIN_MODES, default="auto",
                       help="how --select-urls is joined: side-input (table in each worker's memory, "
                            "~300 B a URL), cogroup (a shuffle, any size), or auto by table size (default)")
    group.add_argument("--side-input-max-urls", type=int, default=DEFAULT_SIDE_INPUT_MAX_URLS,
                       help="auto: largest table joined as a side input (default: %(default)s)")


def select_config_from_args(args: argparse.Namespace) -> SelectConfig:
    return SelectConfig(urls=args.select_urls, domains=args.select_domains, join=args.select_join,
                        side_input_max_urls=args.side_input_max_urls)
