"""Create the demo user and the admin on first run; never touch a password that was not given."""

from __future__ import annotations

import os
import secrets

from django.core.management.base import BaseCommand

from accounts.models import User
from accounts.services import user_create

DEMO_CREDITS = 100


class Command(BaseCommand):
    help = "Create the `demo` user (with starting credits) and the `admin` superuser if missing."

    def handle(self, *args: object, **options: object) -> None:
        for username, variable, staff in (
            ("demo", "STUDIO_DEMO_PASSWORD", False),
            ("admin", "STUDIO_ADMIN_PASSWORD", True),
        ):
            given = os.environ.get(variable, "")
            user = User.objects.filter(username=username).first()
            if user is None:
                password = given or secrets.token_urlsafe(12)
                user_create(
                    username=username,
                    email=f"{username}@localhost",
                    password=password,
                    starting_credits=0 if staff else DEMO_CREDITS,
                    is_staff=staff,
                    is_superuser=staff,
                    reason="Demo credits",
                )
                if given:
                    self.stdout.write(f"Created {username!r} with the password from {variable}.")
                else:
                    # Printed once, on the terminal of the person who ran `make run`; never logged.
                    self.stdout.write(f"Created {username!r} with password: {password}")
            elif given and not user.check_password(given):
                user.set_password(given)
                user.save(update_fields=["password"])
                self.stdout.write(f"Set the password of {username!r} from {variable}.")
            else:
                self.stdout.write(f"{username!r} exists; its password is unchanged.")
