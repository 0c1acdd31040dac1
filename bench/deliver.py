"""Benchmark: a daily edition of 20,000 real digest messages delivered through SMTP into a local
sink (bench/smtp_sink.py, its own process: not the bottleneck), the way `publisher send` does
it: rows claimed in batches, messages composed, handed to the transport, results recorded.

Each configuration sends the whole edition (its rows are set back to queued in between):
- one connection per message (connect, EHLO, MAIL, RCPT, DATA, QUIT for every message), one
  at a time: the naive way;
- one connection per message, `--connections` at once;
- the pool: `--connections` reused connections;
- the pool with DKIM signing (RSA-2048, relaxed/relaxed, dkimpy).

    .venv/bin/python bench/deliver.py [--messages 20000] [--connections 4] [--naive 5000]
"""

from __future__ import annotations

import argparse
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from digest import NOW, populate, settings

from publisher.app import App, open_app
from publisher.delivery.deliver import Deliverer
from publisher.delivery.transports import build_transport
from publisher.digest.compose import Composer
from publisher.digest.editions import new_edition
from publisher.models import DeliveryState, EditionKind, EditionStatus
from publisher.pipeline import mailer, related_engine
from publisher.settings import Settings
from publisher.store.schema import deliveries, editions

SINK = Path(__file__).resolve().parents[1] / "tests" / "smtp_sink.py"


@dataclass(frozen=True)
class Setup:
    label: str
    connections: int
    per_connection: int  # messages before a fresh connection
    dkim: bool = False
    limit: int = 0  # rows sent (0: all)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def with_delivery(base: Settings, port: int, setup: Setup) -> Settings:
    """The bench settings, sending to the sink as `setup` says."""
    delivery = base.delivery.model_copy(
        update={
            "transport": "smtp",
            "batch": 500,
            "smtp": base.delivery.smtp.model_copy(
                update={
                    "port": port,
                    "connections": setup.connections,
                    "messages_per_connection": setup.per_connection,
                }
            ),
            "dkim": base.delivery.dkim.model_copy(
                update={"domain": "todaypress.example" if setup.dkim else "", "selector": "b"}
            ),
        }
    )
    return base.model_copy(update={"delivery": delivery})


def reset(app: App, edition_id: int, limit: int) -> None:
    """The edition's rows queued again (the first `limit` of them; the rest sent)."""
    with app.store.db.writing() as conn:
        conn.execute(
            deliveries.update()
            .where(deliveries.c.edition_id == edition_id)
            .values(state=DeliveryState.SENT.value, lease_owner=None, lease_until=None, attempts=0)
        )
        first = (
            deliveries.select()
            .with_only_columns(deliveries.c.id)
            .where(deliveries.c.edition_id == edition_id)
            .order_by(deliveries.c.id)
            .limit(limit)
        )
        conn.execute(
            deliveries.update()
            .where(deliveries.c.id.in_(first.scalar_subquery()))
            .values(state=DeliveryState.QUEUED.value)
        )
        conn.execute(
            editions.update()
            .where(editions.c.id == edition_id)
            .values(status=EditionStatus.SENDING.value)
        )


def run(app: App, composer: Composer, edition_id: int, setup: Setup) -> tuple[float, int]:
    """Send the queued rows through a fresh sink; (seconds, messages the sink took)."""
    port = free_port()
    sink = subprocess.Popen(
        [sys.executable, str(SINK), str(port)], stdout=subprocess.PIPE, text=True
    )
    assert sink.stdout is not None and sink.stdout.readline().strip() == "ready"
    configured = with_delivery(app.settings, port, setup)
    transport = build_transport(configured)
    sender = Deliverer(app.store.deliveries, composer, transport, configured.delivery)
    started = time.perf_counter()
    report = sender.run(edition_id=edition_id, wait=False)
    seconds = time.perf_counter() - started
    transport.close()
    sink.terminate()
    taken_text, _, sink_cpu = sink.communicate()[0].split()
    taken = int(taken_text)
    share = float(sink_cpu) / seconds
    print(f"  (the sink used {float(sink_cpu):.2f} s of CPU: {share:.0%} of a core)")
    assert report.count(DeliveryState.SENT) == taken, (report.states, taken)
    return seconds, taken


def dkim_key() -> str:
    """A fresh RSA-2048 private key (PEM), from openssl."""
    made = subprocess.run(["openssl", "genrsa", "2048"], capture_output=True, check=True)
    return made.stdout.decode()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument(
        "--naive", type=int, default=5_000, help="messages sent the naive way (slow)"
    )
    parser.add_argument("--dkim", type=int, default=3_000, help="messages sent DKIM-signed (slow)")
    parser.add_argument("--only", default="", help="run the setups whose label holds this")
    args = parser.parse_args()
    os.environ["PUBLISHER_DKIM_KEY"] = dkim_key()
    setups = [
        Setup("one connection per message, one at a time", 1, 1, limit=args.naive),
        Setup(
            f"one connection per message, {args.connections} at once",
            args.connections,
            1,
            limit=args.naive,
        ),
        Setup(f"pool of {args.connections} reused connections", args.connections, 1000),
        Setup(
            f"pool of {args.connections}, DKIM-signed",
            args.connections,
            1000,
            dkim=True,
            limit=args.dkim,
        ),
    ]
    with tempfile.TemporaryDirectory(prefix="publisher-deliver-bench-") as folder:
        work = Path(folder)
        started = time.perf_counter()
        populate(work, args.messages)
        app = open_app(settings(work))
        related_engine(app)
        planned = mailer(app).record(
            new_edition(EditionKind.DAILY, NOW, app.settings.site.zone), now=NOW
        )
        edition_id = planned.edition.id
        assert edition_id is not None
        print(
            f"set-up: {planned.deliveries:,} messages in {planned.variants:,} variants, "
            f"{time.perf_counter() - started:.0f} s"
        )
        composer = Composer(mailer(app))
        reset(app, edition_id, 500)
        warm, _ = run(app, composer, edition_id, setups[2])  # related links, blocks: once
        print(f"warm-up (first 500, the edition's blocks rendered): {warm:.2f} s")
        rates: dict[str, float] = {}
        for setup in setups:
            if args.only not in setup.label:
                continue
            reset(app, edition_id, setup.limit or planned.deliveries)
            seconds, taken = run(app, composer, edition_id, setup)
            rates[setup.label] = taken / seconds
            print(
                f"{setup.label}: {taken:,} messages in {seconds:.2f} s = {taken / seconds:,.0f}/s"
            )
        app.close()
    naive, pool, signed = (rates.get(setup.label) for setup in (setups[0], setups[2], setups[3]))
    if naive and pool:
        print(f"pool / one connection per message: {pool / naive:.1f}x")
    if pool and signed:
        extra = (1 / signed - 1 / pool) * 1000
        print(f"DKIM: {extra:.2f} ms more a message ({signed / pool:.2f} of the rate)")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS: {peak:.0f} MB")


if __name__ == "__main__":
    main()
