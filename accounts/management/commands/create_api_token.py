"""`manage.py create_api_token USERNAME [--name NAME]`: the new token is the last line printed."""

from django.core.management.base import BaseCommand, CommandError

from accounts.models import User
from accounts.services import api_token_create


class Command(BaseCommand):
    help = "Create an API token for a person; prints it (once) on the last line."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--name", default="Command-line token")
        parser.add_argument("--expires-in-days", type=int, default=None)

    def handle(self, *args, username: str, name: str, expires_in_days: int | None, **options):
        user = User.objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"No user called {username!r}.")
        token, raw = api_token_create(user=user, name=name, expires_in_days=expires_in_days)
        self.stdout.write(
            f"Created {token.name!r} for {user.username} ({token.prefix}…). Keep it secret:"
        )
        self.stdout.write(raw)
