"""The chat widget in a real headless Chromium (Debian's), against real servers on loopback."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, Route, expect, sync_playwright

from corpus.article import Article
from embeddings.encoder import Encoder
from embeddings.reader import Reader
from service.ops.engine import Engine
from service.settings import Settings
from tests.conftest import free_port

CHROMIUM = "/usr/bin/chromium"
# Without the background-networking flags Chromium tries to reach Google's hosts, which
# this machine's closed network refuses (see DESIGN.md, "Browser tests").
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SEED_TITLE = "ISIS seeking to tighten grip over Deir e-Zor"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1100, "height": 800})
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    yield pg
    context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


def _ask(page: Page, question: str) -> None:
    box = page.get_by_role("textbox", name="Your question")
    box.fill(question)
    box.press("Enter")


def _answers(page: Page):  # type: ignore[no-untyped-def]
    return page.locator("briefing-chat").locator(".a")


def test_demo_page_answers_with_verbatim_quotes_and_citations(
    page: Page, seed_http: httpx.Client
) -> None:
    page.goto(f"{seed_http.base_url}/")
    _ask(page, "Who is Wisam al-Arab?")
    answer = _answers(page).first
    expect(answer.locator("blockquote").first).to_contain_text("26 year-old independent journalist")
    # The quote shown is exactly the API's quote, which is a slice of the stored article.
    api = seed_http.post("/ask", json={"question": "Who is Wisam al-Arab?"}).json()
    first = api["quotes"][0]
    shown = answer.locator("blockquote p").first.inner_text()
    assert shown == first["text"]
    chip = answer.locator("a.chip").first
    expect(chip).to_have_text(f"[1] {SEED_TITLE} · Syria Direct · 2014-06-23")
    href = chip.get_attribute("href") or ""
    assert href.startswith(f"{seed_http.base_url}/read/2014-06-23-isis-deir-ez-zor?")
    assert href.endswith("#quote")
    assert chip.get_attribute("rel") == "noopener noreferrer"
    # The seed article has no URL: the chip opens Briefing's own page, the quote marked.
    page.goto(href)
    mark = page.locator("mark#quote")
    expect(mark).to_have_text(first["text"])
    expect(mark).to_be_in_viewport()


def test_follow_ups_are_resolved_and_the_conversation_survives_a_reload(
    page: Page, seed_http: httpx.Client
) -> None:
    page.goto(f"{seed_http.base_url}/")
    _ask(page, "Who is Wisam al-Arab?")
    expect(_answers(page)).to_have_count(1)
    _ask(page, "Where does he live?")
    expect(_answers(page)).to_have_count(2)
    second = _answers(page).nth(1)
    expect(second.locator(".resolved")).to_have_text("Read as: Where does Wisam al-Arab live?")
    expect(second.locator("blockquote").first).to_contain_text("who lives east of the city")

    page.reload()
    expect(page.locator("briefing-chat").locator(".q")).to_have_text(
        ["Who is Wisam al-Arab?", "Where does he live?"]
    )
    expect(_answers(page)).to_have_count(2)
    # The reloaded widget continues the same conversation on the server.
    _ask(page, "What did he say ISIS has already brought to Deir e-Zor?")
    expect(_answers(page)).to_have_count(3)
    stored = page.evaluate(
        "() => Object.keys(sessionStorage).map(k => JSON.parse(sessionStorage.getItem(k)))"
    )
    (state,) = stored
    turns = seed_http.get(f"/conversations/{state['conversationId']}").json()["turns"]
    assert [t["question"] for t in turns][:2] == ["Who is Wisam al-Arab?", "Where does he live?"]
    assert len(turns) == 3


def test_abstentions_say_the_archive_does_not_hold_it(page: Page, seed_http: httpx.Client) -> None:
    page.goto(f"{seed_http.base_url}/")
    _ask(page, "What is the capital of France?")
    answer = _answers(page).first
    expect(answer.locator(".none")).to_contain_text("Not in the archive")
    expect(answer.locator("blockquote")).to_have_count(0)


def test_loading_and_error_states_then_retry(page: Page, seed_http: httpx.Client) -> None:
    page.goto(f"{seed_http.base_url}/")
    # A network failure cannot be caused on loopback without stopping the shared server,
    # so this one request is aborted in the browser.
    page.route("**/ask", lambda route: route.abort("connectionrefused"))
    _ask(page, "Who is Wisam al-Arab?")
    error = page.locator("briefing-chat").get_by_role("alert")
    expect(error).to_contain_text("Could not reach the archive")
    page.unroute("**/ask")
    held: list[Route] = []
    page.route("**/ask", lambda route: held.append(route))  # hold it: the loading state
    error.get_by_role("button", name="Try again").click()
    expect(page.locator("briefing-chat").locator(".loading")).to_be_visible()
    expect(page.get_by_role("button", name="Ask", exact=True)).to_be_disabled()
    expect(page.get_by_role("log", name="Conversation")).to_have_attribute("aria-busy", "true")
    held[0].continue_()
    expect(_answers(page).first.locator("blockquote").first).to_contain_text("journalist")
    expect(page.locator("briefing-chat").get_by_role("alert")).to_have_count(0)


def test_keyboard_focus_and_aria(page: Page, seed_http: httpx.Client) -> None:
    page.goto(f"{seed_http.base_url}/")
    launcher = page.get_by_role("button", name="Open Ask the archive")
    dialog = page.get_by_role("dialog", name="Ask the archive")
    expect(dialog).to_be_visible()
    expect(launcher).to_have_attribute("aria-expanded", "true")
    page.get_by_role("textbox", name="Your question").focus()
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(launcher).to_be_focused()
    expect(launcher).to_have_attribute("aria-expanded", "false")
    outline = launcher.evaluate("b => getComputedStyle(b).outlineStyle")
    assert outline != "none", "keyboard focus must be visible"
    page.keyboard.press("Enter")
    expect(dialog).to_be_visible()
    expect(page.get_by_role("textbox", name="Your question")).to_be_focused()
    page.keyboard.type("Who is Wisam al-Arab?")
    page.keyboard.press("Enter")
    expect(_answers(page)).to_have_count(1)
    expect(page.get_by_role("log", name="Conversation")).to_have_attribute("aria-busy", "false")


def test_the_host_page_css_cannot_restyle_the_widget(page: Page, seed_http: httpx.Client) -> None:
    page.goto(f"{seed_http.base_url}/")
    # The demo page styles every button red in Comic Sans; the widget's own stay its own.
    host_button = page.evaluate(
        "() => { const b = document.createElement('button'); document.body.append(b);"
        " return getComputedStyle(b).backgroundColor; }"
    )
    assert host_button == "rgb(200, 0, 0)"
    send = page.get_by_role("button", name="Ask", exact=True)
    assert send.evaluate("b => getComputedStyle(b).backgroundColor") != "rgb(200, 0, 0)"
    assert "Comic" not in send.evaluate("b => getComputedStyle(b).fontFamily")


def test_usable_on_a_360px_phone(browser: Browser, seed_http: httpx.Client) -> None:
    context = browser.new_context(viewport={"width": 360, "height": 640}, is_mobile=True)
    page = context.new_page()
    try:
        page.goto(f"{seed_http.base_url}/")
        _ask(page, "Who is Wisam al-Arab?")
        expect(_answers(page).first.locator("blockquote").first).to_be_visible()
        for name in ("dialog", "textbox"):
            box = page.get_by_role(name).first.bounding_box()  # type: ignore[arg-type]
            assert box is not None
            assert box["x"] >= 0 and box["x"] + box["width"] <= 360, (name, box)
        width = page.evaluate("() => document.documentElement.scrollWidth")
        assert width <= 360, "the widget must not make the page scroll sideways"
    finally:
        context.close()


XSS_MARKER = "window.__xss"
PAYLOADS = [
    '<img src=x onerror="window.__xss=1">',
    "</script><script>window.__xss=2</script>",
    "<svg onload=window.__xss=3>",
]


@pytest.fixture(scope="module")
def hostile_engine(
    tmp_path_factory: pytest.TempPathFactory, encoder: Encoder, reranker: Reader
) -> Iterator[Engine]:
    """Articles whose title, text and URL carry script payloads."""
    engine = Engine(
        Settings(data_dir=tmp_path_factory.mktemp("hostile")), encoder=encoder, reranker=reranker
    )
    text = (
        f"The harbour festival drew record crowds this weekend {PAYLOADS[0]} organisers said.\n\n"
        f"Fireworks over the harbour lit the sky {PAYLOADS[1]} until midnight.\n\n"
        f"The harbour festival ends with a parade {PAYLOADS[2]} on Sunday."
    )
    engine.ingest_articles(
        [
            Article(
                id="hostile-1",
                title=f"Harbour festival {PAYLOADS[0]}",
                text=text,
                source=f"Harbour News {PAYLOADS[2]}",
                url="javascript:window.__xss=4",  # never stored through the readers
                published="2024-05-01",
            ),
            Article(
                id="hostile-2",
                title="Harbour parade route",
                text="The harbour parade route runs along the quay this Sunday afternoon.",
                url='https://example.org/a"><script>window.__xss=5</script>',
            ),
        ]
    )
    engine.rebuild()
    engine.state = "ready"
    yield engine
    engine.close()


def test_script_payloads_in_articles_never_execute(
    page: Page, serve: Callable[..., httpx.Client], hostile_engine: Engine
) -> None:
    http = serve(hostile_engine)
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.goto(f"{http.base_url}/")
    for n, question in enumerate(
        (
            "How many people came to the harbour festival?",
            "When does the harbour parade run along the quay?",
        ),
        1,
    ):
        _ask(page, question)
        expect(_answers(page)).to_have_count(n)
    widget = page.locator("briefing-chat")
    expect(widget.locator("blockquote").first).to_be_visible()
    shown = widget.locator(".log").inner_text()
    assert any(p in shown for p in PAYLOADS), "payloads must be shown as plain text"
    assert widget.locator("img, svg, script").count() == 0
    for chip in widget.locator("a.chip").all():
        assert (chip.get_attribute("href") or "").startswith(("http://", "https://"))
    # The javascript: URL is not a link at all.
    assert widget.locator("span.chip").filter(has_text="Harbour festival").count() >= 1
    # The reading page escapes everything and runs no script (its CSP allows none).
    page.goto(f"{http.base_url}/read/hostile-1?start=0&end=20#quote")
    expect(page.locator("h1")).to_have_text(f"Harbour festival {PAYLOADS[0]}")
    assert page.locator("img, svg, script").count() == 0
    assert page.evaluate(f"() => typeof {XSS_MARKER}") == "undefined"
    assert not dialogs


class _HostPage(http.server.BaseHTTPRequestHandler):
    """Serves a third-party news page that embeds the widget from the API's origin."""

    api = ""

    def do_GET(self) -> None:
        body = (
            "<!doctype html><html><head><title>Another site</title></head><body>"
            "<h1>Another newsroom</h1>"
            f'<script src="{self.api}/widget.js" data-api="{self.api}" data-open="true" async>'
            "</script></body></html>"
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def cross_origin(
    seed_engine: Engine, serve: Callable[..., httpx.Client]
) -> Iterator[tuple[str, str, str]]:
    """(API base, allowed host page, refused host page): two more loopback ports."""
    allowed_port, refused_port = free_port(), free_port()
    settings = seed_engine.settings.model_copy(
        update={"cors_origins": f"http://127.0.0.1:{allowed_port}"}
    )
    api = str(serve(seed_engine, settings).base_url).rstrip("/")
    handler = type("Host", (_HostPage,), {"api": api})
    servers = [
        http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
        for port in (allowed_port, refused_port)
    ]
    for s in servers:
        threading.Thread(target=s.serve_forever, daemon=True).start()
    yield api, f"http://127.0.0.1:{allowed_port}/", f"http://127.0.0.1:{refused_port}/"
    for s in servers:
        s.shutdown()
        s.server_close()


def test_cross_origin_pages_in_the_allow_list_can_ask(
    page: Page, cross_origin: tuple[str, str, str]
) -> None:
    api, allowed, _ = cross_origin
    page.goto(allowed)
    _ask(page, "Who is Wisam al-Arab?")
    expect(_answers(page).first.locator("blockquote").first).to_contain_text("journalist")
    assert page.evaluate("() => location.origin") != api


def test_cross_origin_pages_outside_the_allow_list_are_refused(
    page: Page, cross_origin: tuple[str, str, str]
) -> None:
    api, allowed, refused = cross_origin
    page.goto(refused)
    _ask(page, "Who is Wisam al-Arab?")
    expect(page.locator("briefing-chat").get_by_role("alert")).to_contain_text(
        "Could not reach the archive"
    )
    expect(_answers(page)).to_have_count(0)
    # What the browser enforced, seen from the server's side: no CORS grant for that origin.
    origin = refused.rstrip("/")
    preflight = httpx.options(
        f"{api}/ask",
        headers={"Origin": origin, "Access-Control-Request-Method": "POST"},
    )
    assert "access-control-allow-origin" not in preflight.headers
    granted = httpx.options(
        f"{api}/ask",
        headers={"Origin": allowed.rstrip("/"), "Access-Control-Request-Method": "POST"},
    )
    assert granted.headers["access-control-allow-origin"] == allowed.rstrip("/")


def test_widget_script_is_self_contained(seed_http: httpx.Client) -> None:
    r = seed_http.get("/widget.js")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/javascript")
    source = r.text
    assert "innerHTML" not in source and "insertAdjacentHTML" not in source
    assert "eval(" not in source and "document.write" not in source
    # It talks to one API only: every fetch goes to API + a path.
    assert source.count("fetch(") == source.count("fetch(API")
    assert (
        Path(__file__).parents[2] / "service" / "api" / "static" / "widget.js"
    ).read_text() == source


def test_a_briefing_renders_as_dated_key_points(page: Page, seed_http: httpx.Client) -> None:
    page.goto(f"{seed_http.base_url}/")
    # The demo page sets data-topic, so the empty panel offers a briefing first.
    prompt = page.locator("briefing-chat").get_by_role("button", name="Brief me on this story")
    prompt.click()
    answer = _answers(page).first
    expect(answer.locator(".kicker")).to_have_text("Key points")
    points = answer.locator("ol.points li")
    expect(points.first).to_be_visible()
    api = seed_http.post("/ask", json={"question": "Brief me on ISIS in Deir e-Zor"}).json()
    assert api["mode"] == "briefing" and len(api["quotes"]) >= 3
    expect(points).to_have_count(len(api["quotes"]))
    for i, quote in enumerate(api["quotes"]):
        point = points.nth(i)
        assert point.locator("p").inner_text() == quote["text"]
        expect(point.locator("time")).to_have_attribute("datetime", "2014-06-23")
        expect(point.locator("a.chip")).to_contain_text("[1] ")
    expect(page.locator("briefing-chat").locator(".q")).to_have_text(
        ["Brief me on ISIS in Deir e-Zor"]
    )
    # The prompt is only for an empty conversation.
    expect(prompt).to_have_count(0)


def test_no_briefing_prompt_without_a_topic(page: Page, cross_origin: tuple[str, str, str]) -> None:
    _, allowed, _ = cross_origin
    page.goto(allowed)
    expect(page.locator("briefing-chat").locator(".hint")).to_be_visible()
    expect(page.locator("briefing-chat").locator(".prompt")).to_have_count(0)
