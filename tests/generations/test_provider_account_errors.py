"""A provider's 402 (its account out of credit) is an admin's problem; the person is refunded."""

import http.server
import json
import threading

import pytest

from accounts.ledger import wallet_for_user
from generations.catalog import catalog_get
from generations.forms import UploadCandidate
from generations.models import Generation
from generations.services import generation_create, generation_submit, reference_store
from generations.uploads import image_inspect
from tests.conftest import assert_ledger_balanced
from tests.factories import image_upload, make_user

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.services]


@pytest.fixture
def out_of_credit_provider():
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            body = json.dumps(
                {
                    "error": {
                        "message": "Insufficient balance on account acct_77",
                        "type": "billing_error",
                        "param": None,
                        "code": "insufficient_quota",
                    }
                }
            ).encode()
            self.send_response(402)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_a_402_fails_the_generation_with_a_neutral_message_refunds_and_tells_the_admin(
    settings, out_of_credit_provider, client
):
    settings.MODELSTREAM_API_BASE = out_of_credit_provider
    settings.MODELSTREAM_API_KEY = "sk-secret-key-value"
    person = make_user(credits=10)
    upload = image_upload()
    reference = reference_store(
        owner=person, upload=UploadCandidate(upload, image_inspect(upload), "image")
    )
    generation = generation_create(
        user=person,
        model=catalog_get("wan2.6-i2v-flash"),
        values={
            "prompt": "p",
            "resolution": "720P",
            "duration": 5,
            "prompt_extend": False,
            "audio": False,
            "watermark": False,
            "seed": 1,
        },
        references={"img_url": reference},
    )
    generation_submit(generation_id=generation.id)
    generation = Generation.objects.get(pk=generation.id)
    assert generation.state == "failed" and generation.error_kind == "account"
    assert "out of credit" in generation.admin_detail and "acct_77" in generation.admin_detail
    assert "refunded" in generation.error_message and "acct_77" not in generation.error_message
    assert wallet_for_user(user=person).balance == 10
    assert_ledger_balanced()
    client.force_login(person)
    page = client.get(f"/generations/{generation.id}/").content.decode()
    assert "out of credit" not in page and "sk-secret-key-value" not in page
