from tests.escalations.test_handoffs import *  # noqa

def test_dump(sun, client):
    t, e = _opened(sun)
    handoffs.hand(e.pk, sun.em, receiver_id=sun.amer_agent.pk, note="Call the CIO\nat 9")
    client.force_login(sun.giver)
    open("/tmp/handoffs_page.html", "w").write(client.get("/handoffs/").content.decode())
    client.force_login(sun.amer_agent)
    open("/tmp/handoffs_page2.html", "w").write(client.get("/handoffs/").content.decode())
    open("/tmp/handoffs_panel.html", "w").write(client.get(f"/escalations/{sun.esc.pk}/handoffs/panel").content.decode())
