from django.db import models

from caseline.timesource import now


class LoginThrottle(models.Model):
    """Failed sign-ins of one username from one address (sign-in lockout, web/services.py).

    ``failures`` counts failures since ``window_start``; at the limit the pair is locked
    until ``locked_until``. A success deletes the row.
    """

    username = models.CharField(max_length=254)
    ip = models.CharField(max_length=64)
    failures = models.PositiveIntegerField(default=0)
    window_start = models.DateTimeField(default=now)
    locked_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["username", "ip"], name="login_throttle_unique")
        ]

    def __str__(self) -> str:
        return f"{self.username}@{self.ip}: {self.failures}"
