"""publisher: gathers a news portal's articles, writes its feeds and sends its email digests."""

__version__ = "0.1.0"
