from tests.production.services import (  # noqa: F401  (fixtures)
    fresh_postgres_database,
    postgres_server_url,
    redis_server_url,
    s3_server,
)
