"""The mail of ``demo_app.py``: its texts, and the outbox that sends them off the request.

The outbox runs every mail job (for the "forgot password" and sign-in code
forms: the account look-up too) on one background thread, so no answer waits
for an SMTP server, and none takes longer when the account exists: the
request only queues the job.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from datetime import timedelta

log = logging.getLogger("demo_app")

Job = Callable[[], None]


class Outbox:
    """Run queued jobs in order on one daemon thread (started by the first job).

    A job that raises is logged and dropped (the mail is lost, the answer was
    already given). With ``limit`` jobs waiting, new ones are dropped and
    logged rather than kept without bound. :meth:`wait` returns once every
    queued job has run (tests); :meth:`close` ends the thread.
    """

    def __init__(self, limit: int = 1000) -> None:
        self._jobs: queue.Queue[Job | None] = queue.Queue(limit)
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def put(self, job: Job) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="demo-outbox", daemon=True)
                self._thread.start()
            try:
                self._jobs.put_nowait(job)
            except queue.Full:
                log.warning("outbox full: a mail job was dropped")

    def wait(self) -> None:
        self._jobs.join()

    def close(self) -> None:
        with self._lock:
            thread, self._thread = self._thread, None
            if thread is not None:
                self._jobs.put(None)
        if thread is not None:
            thread.join()

    def _run(self) -> None:
        while True:
            job = self._jobs.get()
            try:
                if job is None:
                    return
                job()
            except Exception:
                log.exception("a mail job failed")
            finally:
                self._jobs.task_done()


def _minutes(duration: timedelta) -> str:
    minutes = duration // timedelta(minutes=1)
    if minutes % 60 == 0:
        hours = minutes // 60
        return "1 hour" if hours == 1 else f"{hours} hours"
    return "1 minute" if minutes == 1 else f"{minutes} minutes"


def verify_mail(username: str, email: str, link: str, expires_in: timedelta) -> tuple[str, str]:
    """Subject and text of the mail with an address's verification link."""
    return "Confirm your email address", (
        f"Hello {username},\n\nopen this link to confirm that {email} is the address of your "
        f"lucia_wsgi demo account:\n\n{link}\n\nIt works once, for {_minutes(expires_in)}. "
        "If you did not sign up, ignore this mail.\n")


def reset_mail(username: str, link: str, expires_in: timedelta) -> tuple[str, str]:
    return "Reset your password", (
        f"Hello {username},\n\nopen this link to choose a new password for your lucia_wsgi demo account:\n\n"
        f"{link}\n\nIt works once, for {_minutes(expires_in)}, and signs out every device signed in "
        "to the account. If you did not ask for it, ignore this mail: your password stays as it is.\n")


def code_mail(username: str, code: str, expires_in: timedelta) -> tuple[str, str]:
    return "Your sign-in code", (
        f"Hello {username},\n\nyour sign-in code is {code}\n\nIt works once, for {_minutes(expires_in)}. "
        "If you did not ask for it, ignore this mail.\n")
