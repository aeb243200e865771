from tests.factories import a_response

URL = "/api/v1/kiosk/responses/"


def test_a_kiosk_can_submit_a_response(kiosk_client):
    r = kiosk_client.post(URL, a_response(nps=9), format="json")
    assert r.status_code == 201, r.content
