"""直接登记 (a concern entered on its own, the form the phone also keeps offline): one concern per form."""

from __future__ import annotations

from bs4 import BeautifulSoup
from litestar.testing import TestClient

from tests.conftest import csrf, login
from tests.factories import World
from tests.ledger_support import get_concern


def test_the_direct_entry_form_posted_twice_stores_one_concern(client: TestClient, settings, world: World) -> None:  # type: ignore[no-untyped-def]
    """The form carries a uuid: a retried post, or the phone's offline copy of it, is not a second concern."""
    login(client, "cadre_a")
    page = BeautifulSoup(client.get(f"/ledger/new?target_id={world.targets['house_1']}").text, "html.parser")
    form_uuid = page.select_one("#concern-form input[name=uuid]")["value"]
    data = {"_csrf": csrf(client), "target_id": str(world.targets["house_1"]), "text": "自来水压力不够",
            "category": "request", "urgency": "normal", "uuid": form_uuid}
    first = client.post("/ledger", data=data, follow_redirects=False)
    again = client.post("/ledger", data=data, follow_redirects=False)
    assert first.status_code == again.status_code == 303
    assert first.headers["location"] == again.headers["location"]
    concern = get_concern(settings, int(first.headers["location"].rsplit("/", 1)[1]))
    assert concern.uuid == form_uuid and concern.text == "自来水压力不够"
    login(client, "cadre_a2")  # another person cannot take over a used uuid
    taken = client.post("/ledger", data={**data, "_csrf": csrf(client)}, follow_redirects=False)
    assert taken.status_code == 409 and "编号已被使用" in taken.text
