"""The officers' console in a real browser (headless Chromium, Selenium).

Real gateways (police-nl and its partner port-rtm) with real certificates;
two officers of police-nl run two ``havenctl console`` processes and drive
them as a person would: officer 1 writes a candidate (a syntax error shows
inline at its line; fixed), previews an item side by side, proposes; the
gateway refuses officer 1's own approval (four eyes) and the page shows why;
officer 2 approves and activates; port-rtm then receives the new
projection; the Evidence page answers what was shared with port-rtm about
container MSCU4812360. Negative: no token, a reused token, a wrong CSRF
token, a client certificate behind the console, and an item titled with
markup, checked in the DOM. Screenshots of each page go to
``<build>/tests/browser/screenshots``.
"""

from __future__ import annotations

import csv
import http.client
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import urllib.parse

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "client", "python", "tests"))
import harness  # noqa: E402  (the Python client's real-gateway harness)
import havengate  # noqa: E402

from selenium import webdriver  # noqa: E402
from selenium.common.exceptions import (  # noqa: E402
    NoAlertPresentException, StaleElementReferenceException, WebDriverException)
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support import expected_conditions as EC  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402

CONTAINER = "MSCU4812360"
XSS_TITLE = "<img src=x onerror=alert(1)>"
V2 = "2026-12-07.1"
SHOTS = os.path.join(harness.BINARY_DIR, "tests", "browser", "screenshots")
PARTNERS = ["customs-nl", "port-rtm", "police-be", "police-ec"]


class Console:
    """One ``havenctl console`` process: its one-time URL and origin."""

    def __init__(self, connection: str) -> None:
        self.process = subprocess.Popen([harness.HAVENCTL, "console", "--connection", connection],
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for line in self.process.stdout:
            match = re.search(r"(http://127\.0\.0\.1:(\d+))/login\?token=([0-9a-f]{64})", line)
            if match:
                self.origin, self.port, self.token = match.group(1), int(match.group(2)), match.group(3)
                self.url = match.group(0)
                return
        raise AssertionError(f"havenctl console printed no URL: {self.process.stderr.read()}")

    def request(self, method: str, path: str, body: str = "", headers: dict | None = None):
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=20)
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read().decode()

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)


def alert_item(item_id: str, title: str) -> dict:
    item = harness.alert(item_id, category="PIN_CODE_FRAUD", severity="HIGH", title=title)
    item["alert"]["containers"][0]["number"] = CONTAINER
    item["alert"]["location"]["terminal"] = "ECT Delta"
    return item


@pytest.fixture(scope="module")
def world():
    root = tempfile.mkdtemp(prefix="havengate-console-")
    orgs = {id: harness.create_org(root, id, id.replace("-", ".") + ".example")
            for id in ["police-nl", *PARTNERS]}
    ports = {id: harness.free_port() for id in orgs}
    police, rtm = orgs["police-nl"], orgs["port-rtm"]
    police.issue("officer", "second-officer", "officers")
    gateways = [
        harness.Gateway(rtm, ports["port-rtm"], policy=harness.install_deploy_policy(rtm),
                        peers=[harness.Peer(orgs[p], ports[p]) for p in ["police-nl", "customs-nl"]]),
        harness.Gateway(police, ports["police-nl"], policy=harness.install_deploy_policy(police),
                        peers=[harness.Peer(orgs[p], ports[p]) for p in PARTNERS],
                        extra_yaml="audit:\n  checkpoint_every_records: 5\n"),
    ]
    for gateway in gateways:
        gateway.start()
    officer1 = police.connection_file(ports["police-nl"], os.path.join(police.dir, "officer1.yaml"),
                                      certificate=police.officer_cert, private_key=police.officer_key)
    officer2 = police.connection_file(
        ports["police-nl"], os.path.join(police.dir, "officer2.yaml"),
        certificate=police.cert("officers", "second-officer"),
        private_key=police.key("officers", "second-officer"))
    client_conn = police.connection_file(ports["police-nl"], os.path.join(police.dir, "client.yaml"))
    consoles = {"officer1": Console(officer1), "officer2": Console(officer2),
                "client": Console(client_conn)}

    options = webdriver.ChromeOptions()
    for arg in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1400,1100", "--no-first-run", "--disable-extensions"]:
        options.add_argument(arg)
    options.binary_location = "/usr/bin/chromium"
    drivers = []

    def browser():
        driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
        driver.set_page_load_timeout(30)
        drivers.append(driver)
        return driver

    os.makedirs(SHOTS, exist_ok=True)
    pusher = havengate.Client(police.options(ports["police-nl"]))
    pusher.push(alert_item("01JDQCONSOLE0000000000001", XSS_TITLE))
    rtm_inbox = havengate.Client(rtm.options(ports["port-rtm"]))
    harness.wait_for(lambda: harness.inbox_ids(rtm_inbox), 30, "port-rtm to receive the first alert")
    yield dict(orgs=orgs, ports=ports, consoles=consoles, browser=browser, pusher=pusher,
               rtm_inbox=rtm_inbox, officer1=officer1, root=root, gateways=gateways)
    for driver in drivers:
        driver.quit()
    for console in consoles.values():
        console.stop()
    pusher.close()
    rtm_inbox.close()
    for gateway in gateways:
        gateway.stop()
    shutil.rmtree(root, ignore_errors=True)


def shot(driver, name: str) -> None:
    driver.save_screenshot(os.path.join(SHOTS, f"{name}.png"))


def set_value(driver, element_id: str, text: str) -> None:
    driver.execute_script("document.getElementById(arguments[0]).value = arguments[1];",
                          element_id, text)


def submit(driver, element_id: str, confirm: bool = False) -> None:
    """Clicks a submit button and waits for the next page."""
    page = driver.find_element(By.TAG_NAME, "html")
    driver.find_element(By.ID, element_id).click()
    if confirm:
        WebDriverWait(driver, 10).until(EC.alert_is_present()).accept()

    def replaced(_) -> bool:
        try:
            page.is_enabled()
            return False
        except StaleElementReferenceException:
            return True
        except WebDriverException as e:  # Chromium, while the old page goes away
            if "does not belong to the document" in str(e):
                return True
            raise

    WebDriverWait(driver, 30).until(replaced)


def no_alert(driver) -> None:
    try:
        text = driver.switch_to.alert.text
    except NoAlertPresentException:
        return
    raise AssertionError(f"a script ran in the page: alert({text!r})")


def trail(driver) -> list[tuple[str, str]]:
    """(event, officer) of each record in the proposal's audit trail."""
    rows = driver.find_elements(By.CSS_SELECTOR, "#trail table.trail tbody tr")
    return [tuple(r.find_elements(By.TAG_NAME, "td")[i].text for i in (2, 3)) for r in rows]


def flatten(value, path=""):
    """Leaf paths of a proto3 JSON body, in the policy's snake_case."""
    if isinstance(value, dict):
        for key, child in value.items():
            snake = re.sub(r"([A-Z])", lambda m: "_" + m.group(1).lower(), key)
            yield from flatten(child, f"{path}.{snake}" if path else snake)
    elif isinstance(value, list):
        for child in value:
            yield from flatten(child, path)
    else:
        yield path


def test_officers_change_approve_and_account_for_sharing(world):
    officer1, officer2 = world["consoles"]["officer1"], world["consoles"]["officer2"]
    police_policy = os.path.join(world["orgs"]["police-nl"].dir, "policy", "policy.yaml")
    with open(police_policy, encoding="utf-8") as f:
        v1_text = f.read()
    port_share = ("    share: [category, severity, title, observed_at, location, containers.number,\n")
    assert v1_text.count(port_share) == 1
    v2_text = v1_text.replace('version: "2026-11-28.1"', f'version: "{V2}"').replace(
        port_share, "    share: [category, severity, observed_at, location, containers.number,\n")

    d1 = world["browser"]()
    d1.get(officer1.url)
    assert d1.current_url == officer1.origin + "/"
    assert d1.find_element(By.ID, "organisation").text == "police-nl"
    assert d1.find_element(By.ID, "active-version").text == "2026-11-28.1"
    assert "port-rtm" in d1.find_element(By.CSS_SELECTOR, "table.partners").text
    cookie = d1.get_cookie("hg_console_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    shot(d1, "overview")

    # A syntax error shows at its line and column; the fix validates.
    d1.get(officer1.origin + "/policy")
    broken = v2_text.replace(f'version: "{V2}"', f'version: "{V2}": oops')
    set_value(d1, "policy_text", broken)
    submit(d1, "validate")
    line = broken.splitlines().index(f'version: "{V2}": oops') + 1
    with open(os.path.join(SHOTS, "policy-diagnostic.html"), "w", encoding="utf-8") as f:
        f.write(d1.page_source)
    marked = d1.find_element(By.CSS_SELECTOR, f"li#L{line}.has-diagnostic .diagnostic.error")
    assert marked.get_attribute("data-line") == str(line)
    assert "not valid YAML" in marked.text
    shot(d1, "policy-diagnostic")
    typo = v2_text.replace("containers.terminal, containers.pin_release_status",
                           "containers.termnal, containers.pin_release_status")
    set_value(d1, "policy_text", typo)
    submit(d1, "validate")
    assert "did you mean `terminal`?" in d1.find_element(By.CSS_SELECTOR, ".diagnostic.error").text
    set_value(d1, "policy_text", v2_text)
    submit(d1, "validate")
    assert f"Valid: version {V2}" in d1.find_element(By.ID, "result").text
    d1.find_element(By.ID, "comment").send_keys("the port desk needs no titles")
    submit(d1, "propose")
    proposal = d1.find_element(By.ID, "proposed").get_attribute("data-id")
    assert proposal

    # Impact over the stored items: port-rtm loses the title of the one
    # alert stored so far.
    d1.get(f"{officer1.origin}/impact?proposal_id={proposal}")
    impact = d1.find_element(By.CSS_SELECTOR, "table.impact tbody tr")
    assert impact.find_elements(By.TAG_NAME, "td")[0].text == "port-rtm"
    assert impact.find_elements(By.TAG_NAME, "td")[1].text == "0 / 0 / 1"
    assert "title (1 item)" in impact.find_elements(By.TAG_NAME, "td")[3].text
    shot(d1, "impact")

    # Preview of a stored item found by its container: the one alert so
    # far; port-rtm has its title under the active policy, not under the
    # candidate.
    d1.get(f"{officer1.origin}/preview")
    search = d1.find_element(By.ID, "search-form")
    search.find_element(By.NAME, "container").send_keys(CONTAINER)
    Select(search.find_element(By.NAME, "category")).select_by_visible_text("PIN_CODE_FRAUD")
    search.find_element(By.NAME, "proposal_id").send_keys(proposal)
    submit(d1, "search")
    found = d1.find_elements(By.CSS_SELECTOR, "table.found tbody tr")
    assert [r.find_elements(By.TAG_NAME, "td")[0].text for r in found] == [
        "police-nl/01JDQCONSOLE0000000000001@1"]
    assert found[0].find_elements(By.TAG_NAME, "td")[2].text == XSS_TITLE
    submit(d1, "preview-01JDQCONSOLE0000000000001-1")
    no_alert(d1)
    title = {c.get_attribute("data-policy"): c.text for c in d1.find_elements(
        By.CSS_SELECTOR, "span.field[data-path=title][data-partner=port-rtm]")}
    assert title["candidate"] == "withheld" and title["active"] != "withheld", title
    shot(d1, "preview-stored")
    d1.get(f"{officer1.origin}/preview?search=1&category=RIP_OFF")
    assert d1.find_elements(By.CSS_SELECTOR, "table.found tbody tr") == []

    # Preview: the candidate's columns match what the gateway's engine
    # releases; the markup title stays text.
    item = alert_item("01JDQCONSOLE0000000000009", XSS_TITLE)
    d1.get(officer1.origin + "/preview")
    set_value(d1, "item_json", json.dumps(item))
    d1.find_element(By.ID, "proposal_id").send_keys(proposal)
    submit(d1, "preview")
    no_alert(d1)
    cells = d1.find_elements(By.CSS_SELECTOR, "span.field[data-policy=candidate][data-partner=port-rtm]")
    console_view = {c.get_attribute("data-path"): c.text for c in cells}
    assert console_view["title"] == "withheld"
    item_file = os.path.join(world["root"], "preview-item.json")
    with open(item_file, "w", encoding="utf-8") as f:
        json.dump(item, f)
    engine = json.loads(harness.havenctl("policy", "preview", "--remote", "--connection",
                                         world["officer1"], "--proposal", proposal, "--json",
                                         item_file).stdout)
    rtm_view = next(p for p in engine["partners"] if p["partner"] == "port-rtm")
    released = set(flatten(rtm_view["item"]["alert"]))
    assert {p for p, s in console_view.items() if s != "withheld"} == released & set(console_view)
    assert {p for p, s in console_view.items() if s == "withheld"} == set(console_view) - released
    # The markup title is text in the DOM: no <img> element was made.
    assert d1.find_elements(By.CSS_SELECTOR, "main img") == []
    values = [v.text for v in d1.find_elements(By.CSS_SELECTOR, "span.value")]
    assert XSS_TITLE in values
    shot(d1, "preview")

    # Four eyes: the proposer's approval is refused, with the gateway's reason.
    d1.get(officer1.origin + "/proposals")
    submit(d1, f"approve-{proposal}")
    refusal = d1.find_element(By.CSS_SELECTOR, "#result .error").text
    assert "PERMISSION_DENIED" in refusal and "propos" in refusal
    # The step shows what the audit log recorded: the proposal, and the
    # refused approval, both as officer 1.
    officer1_id = d1.find_element(By.ID, "officer").text
    assert trail(d1) == [("POLICY_PROPOSED", officer1_id), ("POLICY_REJECTED", officer1_id)]
    shot(d1, "proposals-four-eyes")

    d2 = world["browser"]()
    d2.get(officer2.url)
    d2.get(officer2.origin + "/proposals")
    submit(d2, f"approve-{proposal}")
    assert "approved" in d2.find_element(By.CSS_SELECTOR, "#result .ok").text
    officer2_id = d2.find_element(By.ID, "officer").text
    assert officer2_id != officer1_id
    assert trail(d2)[-1] == ("POLICY_APPROVED", officer2_id)
    submit(d2, f"activate-{proposal}", confirm=True)  # the console asks first
    assert "activated" in d2.find_element(By.CSS_SELECTOR, "#result .ok").text
    assert trail(d2)[-2:] == [("POLICY_APPROVED", officer2_id), ("POLICY_ACTIVATED", officer2_id)]
    shot(d2, "proposals-activated")
    d2.get(officer2.origin + "/")
    assert d2.find_element(By.ID, "active-version").text == V2

    # port-rtm receives the new projection: no title any more.
    world["pusher"].push(alert_item("01JDQCONSOLE0000000000002", "Second PIN fraud"))
    entry = harness.wait_for(
        lambda: next((e for e in world["rtm_inbox"].list() if e.item.item_id == "01JDQCONSOLE0000000000002"), None),
        30, "port-rtm to receive the second alert")
    first = next(e for e in world["rtm_inbox"].list() if e.item.item_id == "01JDQCONSOLE0000000000001")
    assert first.item.alert.title == XSS_TITLE  # under v1
    assert entry.item.alert.title == ""  # under v2
    assert entry.item.alert.containers[0].number == CONTAINER

    # Evidence: what did we share with port-rtm about the container? (Once
    # police-nl has recorded port-rtm's acknowledgement of the second item.)
    store = world["gateways"][1].store_file
    harness.wait_for(lambda: harness.havenctl(
        "audit", "received", "--store", store, "--partner", "port-rtm", "--json").stdout.count("\n") == 2,
        30, "police-nl to record both deliveries to port-rtm")
    d1.get(officer1.origin + "/evidence")
    form = d1.find_element(By.ID, "shared-form")
    form.find_element(By.NAME, "partner").send_keys("port-rtm")
    form.find_element(By.NAME, "value").send_keys(CONTAINER)
    submit(d1, "ask-shared")
    rows = d1.find_elements(By.CSS_SELECTOR, "table.shared tbody tr")
    events = [r.find_elements(By.TAG_NAME, "td")[2].text for r in rows]
    items = {r.find_elements(By.TAG_NAME, "td")[3].text.split("@")[0] for r in rows}
    assert sorted(events) == ["ITEM_DELIVERED", "ITEM_DELIVERED", "SHARE_DECIDED", "SHARE_DECIDED"]
    assert items == {"police-nl/01JDQCONSOLE0000000000001", "police-nl/01JDQCONSOLE0000000000002"}
    policies = {r.find_elements(By.TAG_NAME, "td")[4].text for r in rows
                if r.find_elements(By.TAG_NAME, "td")[2].text == "SHARE_DECIDED"}
    assert policies == {"2026-11-28.1", V2}
    shot(d1, "evidence")
    csv_link = d1.find_element(By.ID, "csv").get_attribute("href")
    assert csv_link.startswith(officer1.origin + "/evidence/answer.csv?")
    # The CSV and the signed extract, fetched with the browser's session.
    session = {"Cookie": "hg_console_session=" + d1.get_cookie("hg_console_session")["value"]}
    status, headers, body = officer1.request("GET", csv_link[len(officer1.origin):], headers=session)
    assert status == 200 and headers["Content-Type"].startswith("text/csv")
    table = list(csv.reader(io.StringIO(body)))
    assert table[0] == ["Time", "Record", "Event", "Item", "Policy", "Detail"]
    assert sorted(r[2] for r in table[1:]) == sorted(events)
    # What port-rtm received from us (both items): the table and its CSV agree.
    d1.get(officer1.origin + "/evidence?q=received&partner=port-rtm")
    received = [[c.text for c in r.find_elements(By.TAG_NAME, "td")]
                for r in d1.find_elements(By.CSS_SELECTOR, "table.received tbody tr")]
    assert [r[2] for r in received] == ["ITEM_DELIVERED", "ITEM_DELIVERED"]
    status, headers, body = officer1.request(
        "GET", d1.find_element(By.ID, "csv").get_attribute("href")[len(officer1.origin):],
        headers=session)
    assert status == 200 and 'filename="received.csv"' in headers["Content-Disposition"]
    assert [r[2:4] for r in list(csv.reader(io.StringIO(body)))[1:]] == [r[2:4] for r in received]
    status, _, body = officer1.request("GET", "/evidence/answer.csv?q=rule", headers=session)
    assert status == 400
    status, _, body = officer1.request("GET", "/evidence/extract.json", headers=session)
    assert status == 200
    extract = json.loads(body)
    assert extract["records"][0]["sequence"] == "1" and "BEGIN CERTIFICATE" in extract["gateway_certificate_pem"]
    assert extract["checkpoint"]["signature"]
    assert officer1.request("GET", "/evidence/extract.json")[0] == 403  # no session
    d1.get(officer1.origin + "/evidence?q=status")
    assert "The audit log is intact." in d1.find_element(By.ID, "answer").text
    assert "signature valid" in d1.find_element(By.ID, "answer").text
    shot(d1, "evidence-chain")
    d1.get(officer1.origin + "/evidence?q=rule&field=title&partner=port-rtm")
    releases = d1.find_element(By.CSS_SELECTOR, "table.releases").text
    assert "2026-11-28.1" in releases and "port-desk-blocks-containers-and-badges" in releases
    d1.get(officer1.origin + "/policy")
    assert V2 in d1.find_element(By.CSS_SELECTOR, "table.history").text
    shot(d1, "policy")

    # Reports: this week's bars and counts, drawn by the console as SVG.
    d1.get(officer1.origin + "/reports?weeks=4")
    chart = d1.find_element(By.CSS_SELECTOR, "svg.chart[data-partner=port-rtm]")
    assert len(chart.find_elements(By.TAG_NAME, "rect")) == 8
    this_week = d1.find_elements(By.XPATH, "//section[h2='port-rtm']//table[@class='report']//tbody/tr")[-1]
    cells = [c.text for c in this_week.find_elements(By.TAG_NAME, "td")]
    assert cells[1:3] == ["2", "2"]  # shared, delivered
    by_kind = {r.find_elements(By.TAG_NAME, "td")[0].text: [c.text for c in r.find_elements(By.TAG_NAME, "td")[1:]]
               for r in d1.find_elements(By.XPATH, "//section[h2='port-rtm']//table[contains(@class,'by-kind')]//tbody/tr")}
    assert by_kind == {"PIN_CODE_FRAUD": ["2", "0"], "TLP:AMBER": ["2", "0"]}, by_kind
    shot(d1, "reports")

    # Hits: the second alert names the first one's container, so police-nl
    # recorded a hit between them; personal keys show only as codes.
    d1.get(officer1.origin + "/hits")
    hits = [[c.text for c in r.find_elements(By.TAG_NAME, "td")]
            for r in d1.find_elements(By.CSS_SELECTOR, "table.hits tbody tr")]
    assert ["CONTAINER_NUMBER", CONTAINER, "police-nl/01JDQCONSOLE0000000000002@1",
            "police-nl/01JDQCONSOLE0000000000001@1"] in [h[1:5] for h in hits], hits
    for h in hits:
        if h[1] in ("PERSON_NAME", "BADGE_ID", "DOCUMENT_NUMBER"):
            assert h[2].startswith("ps:"), h
    assert "Jan de Vries" not in d1.find_element(By.TAG_NAME, "body").text
    shot(d1, "hits")

    # Overview: per partner the link, its queue and the CRL copy. port-rtm
    # is up with nothing waiting; customs-nl has no gateway running, so the
    # alerts for it wait, the oldest since the first push.
    def links():
        d1.get(officer1.origin + "/")
        rows = d1.find_elements(By.CSS_SELECTOR, "table.partners tbody tr")
        return {r.find_element(By.CSS_SELECTOR, "span.partner").text:
                [c.text for c in r.find_elements(By.TAG_NAME, "td")[1:5]] for r in rows}
    state = harness.wait_for(
        lambda: (lambda s: s if s["port-rtm"][:2] == ["connected", "0"] and
                 s["port-rtm"][3].startswith("fresh") and s["customs-nl"][1] == "2" else None)(links()),
        15, "the overview to show the links")
    assert state["port-rtm"][2] == "-"
    assert state["customs-nl"][0].startswith("broken") and state["customs-nl"][2] != "-"
    assert state["customs-nl"][3] == "not fetched since the gateway started"
    shot(d1, "overview-links")


def test_no_token_reused_token_and_wrong_csrf_are_refused(world):
    console = world["consoles"]["officer1"]
    status, headers, body = console.request("GET", "/")
    assert status == 403 and "No session" in body
    assert headers["Content-Security-Policy"].startswith("default-src 'self'")
    assert headers["X-Frame-Options"] == "DENY"
    status, _, body = console.request("GET", "/login?token=" + console.token)
    assert status == 403 and "works once" in body  # exchanged by the browser already
    status, _, _ = console.request("GET", "/", headers={"Host": f"evil.example:{console.port}"})
    assert status == 421

    # A session of its own: the officer-2 console's cookie from a fresh
    # browser, then a POST with a wrong CSRF token.
    fresh = Console(world["officer1"])
    try:
        status, headers, _ = fresh.request("GET", "/login?token=" + fresh.token)
        assert status == 303
        cookie = headers["Set-Cookie"].split(";")[0]
        assert "HttpOnly" in headers["Set-Cookie"] and "SameSite=Strict" in headers["Set-Cookie"]
        status, _, body = fresh.request("GET", "/proposals", headers={"Cookie": cookie})
        assert status == 200
        csrf = re.search(r'name="csrf" value="([0-9a-f]{64})"', body).group(1)
        form = {"action": "rollback", "version": "2026-11-28.1", "comment": "x"}
        for bad in ["", "0" * 64]:
            status, _, body = fresh.request(
                "POST", "/proposals", urllib.parse.urlencode({**form, "csrf": bad}),
                {"Cookie": cookie, "Content-Type": "application/x-www-form-urlencoded"})
            assert status == 403 and "CSRF" in body
        # The right token from another origin is refused too; from this
        # origin it works (the rollback reaches the gateway, which refuses
        # a version that was never approved).
        for origin, expected in [("http://evil.example", 403), (fresh.origin, 200)]:
            status, _, body = fresh.request(
                "POST", "/proposals", urllib.parse.urlencode({**form, "csrf": csrf}),
                {"Cookie": cookie, "Content-Type": "application/x-www-form-urlencoded",
                 "Origin": origin})
            assert status == expected, body
        assert "FAILED_PRECONDITION" in body
    finally:
        fresh.stop()


def test_client_certificate_cannot_drive_the_console(world):
    console = world["consoles"]["client"]
    driver = world["browser"]()
    driver.get(console.url)
    text = driver.find_element(By.TAG_NAME, "main").text
    assert "PERMISSION_DENIED" in text
    driver.get(console.origin + "/evidence?q=shared&partner=port-rtm&subject=container&value=" + CONTAINER)
    assert "PERMISSION_DENIED" in driver.find_element(By.ID, "answer").text
    assert driver.find_elements(By.CSS_SELECTOR, "table.shared") == []
    shot(driver, "client-certificate-refused")


def test_gateway_certificate_cannot_drive_the_console(world):
    police = world["orgs"]["police-nl"]
    connection = police.connection_file(
        world["ports"]["police-nl"], os.path.join(police.dir, "gateway.yaml"),
        certificate=os.path.join(police.dir, "gateway", "gateway.crt"),
        private_key=os.path.join(police.dir, "gateway", "gateway.key"))
    console = Console(connection)
    try:
        status, headers, _ = console.request("GET", "/login?token=" + console.token)
        assert status == 303
        session = {"Cookie": headers["Set-Cookie"].split(";")[0]}
        for path in ["/", "/proposals", "/evidence?q=status"]:
            status, _, body = console.request("GET", path, headers=session)
            assert "PERMISSION_DENIED" in body, (path, body)
            assert "2026-11-28.1" not in body
        status, _, body = console.request("GET", "/evidence/extract.json", headers=session)
        assert status == 400 and "PERMISSION_DENIED" in body
    finally:
        console.stop()
