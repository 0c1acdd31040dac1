"""`publisher run` and `publisher serve`: one process, a scheduler, workers and a web server.

Shutdown (SIGTERM or Ctrl-C): waitress stops taking requests and finishes the ones it has,
the scheduler waits for a running job, the workers finish and record the messages in flight,
then the database is closed."""

from __future__ import annotations

import logging
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, timedelta
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler
from waitress.server import create_server

from publisher.app import App, open_app
from publisher.service.jobs import Jobs, utc_now
from publisher.service.leader import Leadership
from publisher.service.workers import WorkerPool
from publisher.settings import Settings
from publisher.web import create_web

log = logging.getLogger(__name__)


@dataclass(kw_only=True)
class Service:
    """What one `publisher run` holds, built by `build_service`, run by `serve_forever`."""

    app: App
    jobs: Jobs | None
    scheduler: BackgroundScheduler | None
    workers: WorkerPool | None
    server: Any  # waitress' server: run() until SystemExit, then close()
    web: Any  # the Flask app (waitress wraps it: server.application is not the app itself)
    address: str

    def start(self) -> None:
        """Start the workers and the scheduler (the web server starts in `serve_forever`)."""
        if self.workers is not None:
            self.workers.start()
        if self.scheduler is not None:
            self.scheduler.start()

    def serve_forever(self) -> None:
        """Serve requests until SIGTERM or Ctrl-C, then stop everything in order."""
        try:
            self.server.run()  # returns on SystemExit/Ctrl-C
        finally:
            self.stop()

    def stop(self) -> None:
        """Stop taking requests, then stop the scheduler, the workers and the mailroom, and
        close the database last."""
        self.server.close()
        if self.scheduler is not None and self.scheduler.running:
            self.scheduler.shutdown(wait=True)
        if self.jobs is not None and self.jobs.leadership is not None:
            self.jobs.leadership.release()
        if self.workers is not None:
            self.workers.stop()
        try:
            self.web.extensions["publisher"].mailroom.close()
        finally:
            self.app.close()
        log.info("stopped")


def scheduler_for(jobs: Jobs) -> BackgroundScheduler:
    """The scheduler: a start-up job (gather, then editions missed within the grace period),
    a gather every `gather.interval_minutes`, and each edition on its cron schedule.

    The job defaults are set on purpose: coalesce, so runs missed while the process was busy
    or asleep run once, not once each; a misfire grace as long as the editions' own, so a
    late edition is sent rather than dropped (APScheduler's default is one second); one
    instance of each job at a time. Editions keyed in the database keep a second scheduler
    or a restart from sending one twice."""
    settings = jobs.app.settings
    grace = int(jobs.grace.total_seconds())
    scheduler = BackgroundScheduler(
        # The scheduler's own clock in UTC; each cron trigger carries the site's zone itself
        # (a trigger object ignores the scheduler's zone, see schedule.cron_trigger).
        timezone=UTC,
        job_defaults={"coalesce": True, "misfire_grace_time": grace, "max_instances": 1},
    )
    interval = timedelta(minutes=settings.gather.interval_minutes)
    now = utc_now()
    leadership = jobs.leadership
    if leadership is None:
        scheduler.add_job(jobs.start_up, "date", run_date=now, id="start-up")
    else:

        def lead() -> None:
            # The catch-up is a job of its own: a long gather must not hold up renewals.
            if leadership.check():
                scheduler.add_job(
                    jobs.start_up, "date", run_date=utc_now(), id="start-up", replace_existing=True
                )

        every = leadership.renew_every
        scheduler.add_job(lead, "interval", seconds=every, next_run_time=now, id="leadership")
    scheduler.add_job(
        jobs.gather, "interval", seconds=interval.total_seconds(), start_date=now, id="gather"
    )
    if settings.digest.delivery == "local":
        minutes = settings.digest.tick_minutes
        scheduler.add_job(jobs.tick, "interval", minutes=minutes, start_date=now, id="tick")
    for kind, trigger in jobs.triggers.items():
        scheduler.add_job(jobs.edition, trigger, args=[kind], id=f"edition-{kind.value}")
    return scheduler


def worker_command(config: str | None) -> list[str]:
    """How a worker process is started: this interpreter, this settings file."""
    return [sys.executable, "-m", "publisher", *(["--config", config] if config else []), "worker"]


def build_service(
    settings: Settings,
    *,
    config: str | None,
    schedule: bool = True,
    workers: int | None = None,
    port: int | None = None,
) -> Service:
    """Open the app and build the pieces; `schedule=False` is `publisher serve`."""
    app = open_app(settings)
    live = app.keep_related_in_memory()
    if not schedule:
        live.stale_after = 60.0  # no gathers here to refresh it: look again at most every minute
    lease = timedelta(seconds=settings.schedule.leader_lease_seconds)
    leadership = Leadership(app.store.leases, lease, utc_now)
    jobs = Jobs(app, leadership=leadership) if schedule else None
    count = settings.delivery.workers if workers is None else workers
    web = create_web(app)
    server = create_server(
        web,
        host=settings.web.host,
        port=settings.web.port if port is None else port,
        threads=settings.web.threads,
        ident="publisher",
    )
    host = settings.web.host if ":" not in settings.web.host else f"[{settings.web.host}]"
    return Service(
        app=app,
        jobs=jobs,
        scheduler=scheduler_for(jobs) if jobs else None,
        workers=WorkerPool(worker_command(config), count) if schedule and count else None,
        server=server,
        web=web,
        address=f"http://{host}:{server.effective_port}/",
    )


def run_service(service: Service, *, announce: Callable[[str], None]) -> None:
    """Start the service, say where it answers, and serve until told to stop."""
    signal.signal(signal.SIGTERM, _exit)
    service.start()
    announce(service.address)
    service.serve_forever()


def _exit(signum: int, frame: object) -> None:
    sys.exit(0)  # waitress' run() stops on SystemExit: its own shutdown then ours
