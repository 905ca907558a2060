"""A real browser (Debian's chromium through playwright) against the real server on loopback.

No browser is downloaded: playwright drives /usr/bin/chromium, which `.ci/install-browser` installs.
"""
from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from urllib.parse import quote

import pytest

from service import create_app

from .conftest import served_in_thread

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SCREENSHOT_COPY = Path("/tmp/speechqa-screenshot.png")
# (query, where the page shows it back): a lone quote is a syntax error, echoed inside the message
XSS_QUERIES = [("<script>alert(1)</script>", ".summary .query"), ('"><img src=x onerror=alert(1)>', "p.notice")]


def _served(searcher):
    """The app under the server `speechqa serve` runs (service/server.py), in a thread, on a free loopback port."""
    with served_in_thread(create_app(searcher=searcher), threads=4) as base:
        yield base


@pytest.fixture(scope="module")
def base_url(searcher):
    """The seed index served."""
    yield from _served(searcher)


@pytest.fixture(scope="module")
def find_url(find_searcher):
    """The index of tests/conftest.py FIND_CORPUS (a speech, its reprint, another speech) served."""
    yield from _served(find_searcher)


@pytest.fixture(scope="module")
def browser():
    if not (CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK)):
        pytest.fail(f"{CHROMIUM} is missing: run `bash .ci/install-browser` (installs Debian's chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def no_js_page(browser):
    """A laptop-sized page with JavaScript off: everything must work without it."""
    context = browser.new_context(java_script_enabled=False, viewport={"width": 1280, "height": 900},
                                  locale="zh-CN")
    yield context.new_page()
    context.close()


@pytest.fixture
def js_page(browser):
    """A page with JavaScript on that records every dialog (none may ever open)."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    page = context.new_page()
    page.dialogs = []
    page.on("dialog", lambda dialog: (page.dialogs.append(dialog.message), dialog.dismiss()))
    yield page
    context.close()


def test_ask_a_chinese_question_and_follow_more_context(base_url, no_js_page, tmp_path):
    page = no_js_page
    page.goto(base_url + "/")
    page.fill("input[name=q]", "如何保障粮食安全？")
    page.click("button[type=submit]")
    page.wait_for_load_state()

    assert page.url.startswith(base_url + "/?q=")
    results = page.locator("li.result")
    assert results.count() == 10
    first = results.first
    assert any("粮食" in mark for mark in first.locator("p.excerpt mark").all_inner_texts())
    assert first.locator("p.excerpt strong.best").count() == 1
    assert "›" in first.locator(".path").inner_text()
    assert page.input_value("input[name=q]") == "如何保障粮食安全？"

    shot = tmp_path / "results.png"
    page.screenshot(path=str(shot), full_page=False)
    assert shot.stat().st_size > 10_000
    shutil.copyfile(shot, SCREENSHOT_COPY)

    first.locator("details.whole summary").click()  # the whole passage opens in place, without JavaScript
    passage_text = first.locator("details.whole p.text").inner_text()
    assert first.locator("p.excerpt").inner_text().strip("…") in passage_text
    first.get_by_role("link", name="更多上下文").click()
    page.wait_for_load_state()
    assert "/passages/" in page.url
    current = page.locator("section.current p.text")
    assert current.inner_text() == passage_text
    assert page.locator("section.current mark").count() > 0
    assert page.locator("section.neighbour").count() >= 1
    page.screenshot(path=str(tmp_path / "context.png"), full_page=True)
    shutil.copyfile(tmp_path / "context.png", SCREENSHOT_COPY.with_name("speechqa-screenshot-context.png"))

    page.get_by_role("link", name="在全文中查看").first.click()
    page.wait_for_load_state()
    anchor = page.url.split("#", 1)[1]
    assert anchor.startswith("p-")
    # the speech page shows the passage's heading line as a heading above it
    assert passage_text.endswith(page.locator(f"section.passage#{anchor} p.text").inner_text())
    assert page.locator(f"section.passage#{anchor} mark").count() > 0, "the query's highlights come along"


def test_full_speech_opens_at_the_passage(base_url, js_page):
    page = js_page
    page.goto(base_url + "/?q=" + quote("基层怎样提高保密意识？") + "&k=3")
    link = page.locator("li.result").first.get_by_role("link", name="在全文中查看")
    href = link.get_attribute("href")
    link.click()
    page.wait_for_load_state()
    anchor = href.split("#", 1)[1]
    assert page.url.endswith("#" + anchor)
    assert page.evaluate("() => document.querySelector(':target') && document.querySelector(':target').id") == anchor
    assert page.evaluate("() => window.scrollY") > 0, "the page scrolled to the passage"


@pytest.mark.parametrize(("query", "shown_in"), XSS_QUERIES)
def test_markup_in_a_query_is_shown_as_text_and_never_runs(base_url, js_page, query, shown_in, tmp_path):
    page = js_page
    page.goto(base_url + "/")
    page.fill("input[name=q]", query)
    page.click("button[type=submit]")
    page.wait_for_load_state()
    assert page.input_value("input[name=q]") == query
    assert query[:12] in page.locator(shown_in).inner_text()
    assert page.locator("main img").count() == 0
    assert page.locator("body script").count() == 0
    page.goto(base_url + "/?q=" + quote(query))  # the shareable URL, typed directly
    page.wait_for_timeout(300)
    assert query[:12] in page.locator(shown_in).inner_text()
    assert page.dialogs == []


def test_phone_layout_has_no_horizontal_scroll(base_url, browser, tmp_path):
    context = browser.new_context(java_script_enabled=True, viewport={"width": 390, "height": 844},
                                  device_scale_factor=2, is_mobile=True, locale="zh-CN")
    try:
        page = context.new_page()
        page.goto(base_url + "/?q=" + quote("如何保障粮食安全？") + "&k=3")
        assert page.locator("li.result").count() == 3
        assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")
        font = page.evaluate("() => getComputedStyle(document.querySelector('.result p.text')).fontSize")
        assert float(font.rstrip("px")) >= 15
        page.screenshot(path=str(tmp_path / "phone.png"))
        shutil.copyfile(tmp_path / "phone.png", SCREENSHOT_COPY.with_name("speechqa-screenshot-phone.png"))
    finally:
        context.close()


def test_a_quoted_search_folds_the_reprint_and_a_filter_unfolds_it(find_url, find_searcher, no_js_page):
    (reprint,) = [p.id for p in find_searcher.passages if p.source == "b_reprint.txt" and "保交楼" in p.text]
    page = no_js_page
    page.goto(find_url + "/")
    page.fill("input[name=q]", "“保交楼”")
    page.click("button[type=submit]")
    page.wait_for_load_state()
    results = page.locator("li.result")
    assert results.count() == 2
    first = results.nth(0)
    assert first.locator("mark").first.inner_text() == "保交楼"
    assert first.locator(".path .about").inner_text() == "2021年9月1日 · 南宁 · 张三 · 全市国家安全工作会议"
    assert first.locator(".duplicates summary").inner_text() == "另见 1 篇"
    first.locator(".duplicates summary").click()  # <details> opens without JavaScript
    first.locator(".duplicates a").click()
    page.wait_for_load_state()
    assert page.url.startswith(f"{find_url}/passages/{reprint}?q=")

    page.goto(find_url + "/")
    page.fill("input[name=q]", "“保交楼”")
    assert not page.is_visible("input[name=place]")  # filters are folded until asked for
    page.locator("details.filters-box summary").click()
    page.fill("input[name=place]", "柳州")
    page.click("button[type=submit]")
    page.wait_for_load_state()
    results = page.locator("li.result")
    assert results.count() == 1
    assert results.nth(0).locator(".path .about").inner_text() == "2023年4月15日 · 柳州 · 李四"
    assert results.nth(0).locator(".duplicates").count() == 0
    assert page.input_value("input[name=place]") == "柳州"
    assert page.is_visible("input[name=place]")  # a filter in use keeps them open


# --- speechwriter tools: citation, export cart, similar passages ---------------------------------

SHOTS = Path("/tmp/shots")


def _shot(page, name: str) -> None:
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=False)


def test_copy_a_citation(base_url, browser):
    context = browser.new_context(viewport={"width": 1366, "height": 768}, locale="zh-CN")
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=base_url)
    try:
        page = context.new_page()
        page.goto(base_url + "/?q=" + quote("如何保障粮食安全？") + "&k=5")
        first = page.locator("li.result").first
        first.locator("details.cite summary").click()
        box = first.locator("textarea.citation").first
        citation = box.input_value()
        # the grain answer is in the seeds' untitled speech: its made-up title is marked, never cited
        assert first.locator(".path .inferred").inner_text() == "〔拟题〕"
        assert citation.splitlines()[-1].startswith("（摘自无标题讲话〔拟题：保障粮食安全提高粮食产能；004_")
        button = first.get_by_role("button", name="复制引用")
        assert button.is_visible(), "the script reveals the copy button"
        button.click()
        # said in a live region beside the button, whose own name stays
        page.wait_for_function("() => document.querySelector('.copy-news').textContent === '已复制'")
        assert first.locator(".copy-news").first.get_attribute("role") == "status"
        assert button.inner_text() == "复制引用" and button.evaluate("b => b === document.activeElement")
        assert page.evaluate("() => navigator.clipboard.readText()") == citation
        # the bold sentence alone, with the same source line
        first.get_by_role("button", name="复制本句引用").click()
        page.wait_for_function("() => document.querySelectorAll('.copy-news')[1].textContent === '已复制'")
        bold = first.locator("strong.best").first.inner_text()
        assert page.evaluate("() => navigator.clipboard.readText()") == bold + "\n" + citation.splitlines()[-1]
        _shot(page, "laptop-citation")

        first.get_by_role("link", name="更多上下文").click()  # the passage page offers the same box
        page.wait_for_load_state()
        current = page.locator("section.current")
        current.locator("details.cite summary").click()
        current.get_by_role("button", name="复制引用").click()
        page.wait_for_function("() => document.querySelector('.copy-news').textContent === '已复制'")
        assert page.evaluate("() => navigator.clipboard.readText()") == citation
    finally:
        context.close()


def test_without_javascript_the_citation_is_a_selectable_box(base_url, no_js_page):
    page = no_js_page
    page.goto(base_url + "/?q=" + quote("如何保障粮食安全？") + "&k=3")
    first = page.locator("li.result").first
    first.locator("details.cite summary").click()
    boxes = first.locator("textarea.citation")
    assert boxes.count() == 2 and all(boxes.nth(i).is_visible() for i in range(2))
    assert all(boxes.nth(i).input_value().endswith("）") for i in range(2))
    assert not first.get_by_role("button", name="复制引用").is_visible()
    assert not first.get_by_role("button", name="复制本句引用").is_visible()


def test_build_a_cart_of_three_and_download_each_format(base_url, no_js_page, searcher, tmp_path):
    page = no_js_page
    page.goto(base_url + "/?q=" + quote("如何保障粮食安全？") + "&k=5")
    chosen = [page.locator("li.result").nth(i).get_attribute("id")[2:] for i in (0, 2, 1)]
    for passage_id in chosen:  # the order a writer picks them in, not the ranking's
        page.locator(f"li#r-{passage_id}").get_by_role("link", name="加入摘录").click()
        page.wait_for_load_state()
    assert f"cart={'%2C'.join(chosen)}" in page.url or f"cart={','.join(chosen)}" in page.url
    # as the cart and exports show them: a made-up title (the seeds' untitled speech) marked as such
    titles = [searcher.passage(i).speech_title + ("〔拟题〕" if searcher.speech(searcher.passage(i).speech_id).title_inferred
                                                  else "") for i in chosen]
    page.locator("aside.cart summary").click()
    cart = page.locator("aside.cart li")
    assert cart.count() == 3
    assert [item.locator(".entry").inner_text().split(" › ")[0] for item in cart.all()] == titles
    assert page.locator(f"li#r-{chosen[0]}").get_by_role("link", name="移出摘录").count() == 1
    _shot(page, "laptop-cart")

    files = {}
    for name in ("markdown", "csv", "docx"):
        with page.expect_download() as info:
            page.locator(f"aside.cart a.download[data-format={name}]").click()
        download = info.value
        assert download.suggested_filename == "speechqa-export." + {"markdown": "md", "csv": "csv", "docx": "docx"}[name]
        files[name] = tmp_path / download.suggested_filename
        download.save_as(files[name])

    markdown = files["markdown"].read_text(encoding="utf-8")
    assert [line.split(" ", 2)[2].split(" · ")[0] for line in markdown.splitlines() if line.startswith("## ")] == titles
    raw = files["csv"].read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    import csv
    import io
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"), newline="")))
    assert [row[1] for row in rows[1:]] == chosen
    from docx import Document
    headings = [p.text for p in Document(str(files["docx"])).paragraphs if p.style.name == "Heading 1"]
    assert [h.split(" ", 1)[1].split(" · ")[0] for h in headings] == titles


def test_open_similar_from_a_result(base_url, no_js_page):
    page = no_js_page
    page.goto(base_url + "/?q=" + quote("如何保障粮食安全？") + "&k=3")
    first = page.locator("li.result").first
    source_speech = first.locator(".path a").first.inner_text()
    first.get_by_role("link", name="相似说法").click()
    page.wait_for_load_state()
    assert "/similar" in page.url
    assert page.locator("h1").inner_text() == "其他讲话里的相近说法"
    results = page.locator("li.result")
    assert results.count() >= 3
    speeches = [r.locator(".path a").first.inner_text() for r in results.all()]
    assert source_speech not in speeches and len(set(speeches)) == len(speeches)
    _shot(page, "laptop-similar")


def test_screenshots_on_laptop_and_phone(base_url, browser, searcher):
    cart = ",".join(p.id for p in searcher.passages[3:6])
    pages = {"results": "/?q=" + quote("如何保障粮食安全？") + "&k=5&cart=" + cart,
             "no-answer": "/?q=" + quote("如何做红烧肉？"),
             "speech": f"/speeches/{searcher.passages[4].speech_id}?q=" + quote("粮食安全")}
    for size, viewport in (("laptop", {"width": 1366, "height": 768}), ("phone", {"width": 390, "height": 844})):
        context = browser.new_context(viewport=viewport, is_mobile=size == "phone", locale="zh-CN")
        try:
            page = context.new_page()
            for name, path in pages.items():
                page.goto(base_url + path)
                assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth"), (size, name)
                if name == "no-answer":  # other words, never a single arm that would claim an answer
                    assert page.locator(".no-answer li").all_inner_texts() == [
                        "少用几个词：做 红烧肉", "换个说法再问：用讲话材料里常见的提法，少用口语"]
                _shot(page, f"{size}-{name}")
            page.goto(base_url + pages["results"])
            page.locator("li.result").first.locator("details.whole summary").click()
            _shot(page, f"{size}-expanded")
        finally:
            context.close()


def test_a_pasted_question_over_the_limit_is_refused_saying_so_not_cut(base_url, no_js_page):
    page = no_js_page
    page.goto(base_url + "/")
    page.locator("input[name=q]").focus()
    page.keyboard.insert_text("粮" * 600)  # as a paste arrives: one insertion, not keystrokes
    page.click("button[type=submit]")
    page.wait_for_load_state()
    assert page.locator("p.notice.error").inner_text() == "问题太长了：最多 500 个字符（现在是 600 个）。"
    assert page.locator("li.result").count() == 0


@pytest.mark.parametrize("viewport", [{"width": 1366, "height": 768}, {"width": 390, "height": 844}])
def test_after_adding_to_the_cart_its_downloads_are_in_view_beside_the_result(base_url, browser, viewport):
    context = browser.new_context(java_script_enabled=False, viewport=viewport, locale="zh-CN")
    try:
        page = context.new_page()
        page.goto(base_url + "/?q=" + quote("如何保障粮食安全？") + "&k=10")
        chosen = page.locator("li.result").nth(6).get_attribute("id")
        page.locator(f"li#{chosen}").get_by_role("link", name="加入摘录").click()
        page.wait_for_load_state()
        assert page.evaluate("() => window.scrollY") > 0, "the page went down to the result"
        height = page.evaluate("() => window.innerHeight")
        cart = page.locator("aside.cart").bounding_box()
        assert 0 <= cart["y"] and cart["y"] + cart["height"] <= height
        assert page.locator("aside.cart strong").inner_text() == "摘录 1 段"
        result = page.locator(f"li#{chosen}").bounding_box()
        assert cart["y"] + cart["height"] <= result["y"] < height, "the result is not hidden behind the cart"
        _shot(page, f"cart-in-view-{viewport['width']}")
    finally:
        context.close()


# --- accessibility: focus, headings, announcements, forced colours ------------------------------

# Whether the cart lies over the focused element's centre (the focus is out of sight under it).
FOCUS_UNDER_CART = """() => {
  const focused = document.activeElement, box = focused.getBoundingClientRect();
  const seen = document.elementFromPoint(box.x + box.width / 2, box.y + box.height / 2);
  return seen !== null && seen.closest('.cart') !== null && focused.closest('.cart') === null;
}"""


@pytest.mark.parametrize("javascript", [True, False])
@pytest.mark.parametrize("viewport", [{"width": 1366, "height": 768}, {"width": 390, "height": 844},
                                      {"width": 320, "height": 600}, {"width": 320, "height": 256}])
def test_the_pinned_cart_never_covers_the_focus_or_the_result_gone_to(base_url, browser, searcher, viewport,
                                                                      javascript):
    context = browser.new_context(java_script_enabled=javascript, viewport=viewport, locale="zh-CN")
    try:
        page = context.new_page()
        cart = ",".join(p.id for p in searcher.passages[3:6])
        page.goto(base_url + "/?q=" + quote("如何保障粮食安全？") + "&k=10&cart=" + cart)
        page.locator("footer a").focus()
        covered, stops = [], 0
        while not page.evaluate("() => document.activeElement.closest('.cart') !== null"):
            page.keyboard.press("Shift+Tab")  # back up through every result's links, buttons and summaries
            stops += 1
            if page.evaluate(FOCUS_UNDER_CART):
                covered.append(page.evaluate("() => document.activeElement.textContent.trim()"))
        assert stops > 40 and covered == []

        target = page.locator("li.result").nth(6).get_attribute("id")
        page.goto(base_url + "/?q=" + quote("如何保障粮食安全？") + f"&k=10&cart={cart}#{target}")
        page.wait_for_timeout(200)
        title = page.locator(f"li#{target} h3").bounding_box()
        height = viewport["height"]
        assert 0 <= title["y"] < height
        if page.evaluate("() => getComputedStyle(document.getElementById('cart')).position") == "sticky":
            cart_box = page.locator("aside.cart").bounding_box()
            assert cart_box["y"] + cart_box["height"] <= title["y"], "the title is not cut off behind the cart"
        else:
            assert height < 512, "pinned wherever the window has room for it"
    finally:
        context.close()


def test_adding_to_and_removing_from_the_cart_says_so_and_keeps_the_place(base_url, js_page):
    page = js_page
    page.goto(base_url + "/?q=" + quote("如何保障粮食安全？") + "&k=5")
    chosen = [page.locator("li.result").nth(i).get_attribute("id") for i in (3, 1)]
    for count, result in enumerate(chosen, start=1):
        page.locator(f"li#{result}").get_by_role("link", name="加入摘录").click()
        page.wait_for_load_state()
        page.wait_for_function(f"() => document.getElementById('cart-news').textContent === '已加入摘录（共 {count} 段）'")
        # the keyboard goes on from the link pressed, now the one that takes it back out
        assert page.evaluate("() => [document.activeElement.textContent, document.activeElement.closest('li').id]") == [
            "移出摘录", result]
        # said once: the address a reader copies now carries the cart but not the news
        assert "cart_news" not in page.url and "cart=" in page.url and page.url.endswith("#" + result)
    page.locator("aside.cart summary").click()
    page.locator("aside.cart li").first.get_by_role("link", name="移出").click()
    page.wait_for_load_state()
    page.wait_for_function("() => document.getElementById('cart-news').textContent === '已移出摘录（还有 1 段）'")
    assert page.locator("#cart-list").evaluate("list => list.open"), "the list it was removed from is open again"
    assert page.evaluate("() => document.activeElement.textContent") == "按加入的顺序查看、移出"
    assert page.locator(f"li#{chosen[0]}").get_by_role("link", name="加入摘录").count() == 1


def test_a_malformed_fragment_does_not_silence_the_cart_news(base_url, js_page, searcher):
    page = js_page
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    passage_id = searcher.passages[0].id
    page.goto(f"{base_url}/?q={quote('粮食')}&cart={passage_id}&cart_news=added#%E0%A4%A")
    page.wait_for_function("() => document.getElementById('cart-news').textContent === '已加入摘录（共 1 段）'")
    assert errors == [] and "cart_news" not in page.url


@pytest.mark.parametrize(("asked", "field", "description"), [
    ("q=" + quote('"保交楼'), "q", "检索式有误：第 1 个字的引号"),
    ("q=x&k=abc", "k", "结果数必须是 1 到 50 之间的整数。"),
])
def test_a_refused_search_names_itself_and_puts_the_cursor_in_the_field_at_fault(base_url, no_js_page, asked, field,
                                                                                  description):
    from playwright.sync_api import expect

    page = no_js_page
    page.goto(base_url + "/?" + asked)
    assert page.title().startswith("检索有误 - ")
    assert page.get_by_role("heading", level=1).inner_text() == "检索有误"
    focused = page.locator(":focus")
    assert focused.get_attribute("name") == field and focused.get_attribute("aria-invalid") == "true"
    expect(focused).to_have_accessible_description(re.compile("^" + re.escape(description)))


def test_headings_lead_through_the_results_and_the_passage(base_url, no_js_page):
    page = no_js_page
    page.goto(base_url + "/?q=" + quote("如何保障粮食安全？") + "&k=3")
    assert page.get_by_role("heading", level=1).count() == 1
    assert page.get_by_role("heading", level=2, name="检索结果").count() == 1
    titles = page.get_by_role("heading", level=3)
    assert titles.count() == 3
    assert titles.first.inner_text().startswith(page.locator("li.result").first.locator(".path a").first.inner_text())
    page.locator("li.result").first.get_by_role("link", name="更多上下文").click()
    page.wait_for_load_state()
    assert page.get_by_role("region", name="本段").get_by_role("heading", level=2, name="本段").count() == 1


def test_confidence_and_the_best_sentence_are_said_and_seen_in_forced_colours(base_url, browser, tmp_path):
    from PIL import Image
    from playwright.sync_api import expect

    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    try:
        page = context.new_page()
        page.goto(base_url + "/?q=" + quote("如何保障粮食安全？") + "&k=3")
        first = page.locator("li.result").first
        meter = first.locator("meter")
        expect(meter).to_have_accessible_name("回答概率")
        value = float(meter.get_attribute("value"))
        assert value > 0.9 and meter.get_attribute("aria-valuetext") == f"{value * 100:.0f}%，很可能回答了问题"
        assert "最相关句：" in first.locator("p.excerpt").aria_snapshot()
        assert "最相关句" not in first.locator("p.excerpt").inner_text(), "heard, not shown"

        page.emulate_media(forced_colors="active")
        best = first.locator("p.excerpt strong.best")
        assert "underline" in best.evaluate("b => getComputedStyle(b).textDecorationLine")
        canvas = page.evaluate("() => getComputedStyle(document.body).backgroundColor")
        canvas_grey = Image.new("RGB", (1, 1), tuple(int(c) for c in re.findall(r"\d+", canvas)[:3])).convert("L")
        meter.screenshot(path=str(tmp_path / "meter.png"))
        bar = Image.open(tmp_path / "meter.png").convert("L")
        middle = [bar.getpixel((x, bar.height // 2)) for x in range(bar.width)]
        # the fill runs as far as the value, not an empty outline on the page's colour
        filled = sum(abs(pixel - canvas_grey.getpixel((0, 0))) > 60 for pixel in middle)
        assert filled >= 0.9 * value * bar.width, (canvas, middle)
    finally:
        context.close()


@pytest.mark.parametrize("width", [320, 390, 600, 640, 800, 1366])
def test_each_passage_of_a_speech_links_to_its_context_readably_at_every_width(base_url, browser, searcher, width):
    from playwright.sync_api import expect

    context = browser.new_context(viewport={"width": width, "height": 800}, locale="zh-CN")
    try:
        page = context.new_page()
        page.goto(base_url + f"/speeches/{searcher.speeches[0].id}")
        assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")
        anchor = page.locator("a.anchor").nth(1)
        assert anchor.is_visible()
        expect(anchor).to_have_accessible_name("第 2 段的上下文")
        assert contrast(anchor.evaluate("a => getComputedStyle(a).color"),
                        page.evaluate("() => getComputedStyle(document.body).backgroundColor")) >= 4.5
    finally:
        context.close()


def test_the_footer_link_is_told_from_its_text_by_more_than_colour(base_url, no_js_page):
    page = no_js_page
    page.goto(base_url + "/")
    link = page.locator("footer a")
    assert link.evaluate("a => getComputedStyle(a).textDecorationLine") == "underline"


def test_without_the_clipboard_a_copy_keeps_the_focus_on_its_button_and_says_so(base_url, js_page):
    page = js_page
    page.add_init_script("navigator.clipboard.writeText = () => Promise.reject(new DOMException('', 'NotAllowedError'))")
    page.goto(base_url + "/?q=" + quote("如何保障粮食安全？") + "&k=3")
    first = page.locator("li.result").first
    first.locator("details.cite summary").click()
    first.get_by_role("button", name="复制引用").click()
    page.wait_for_function("() => document.querySelector('.copy-news').textContent === '已复制'")
    assert page.evaluate("() => document.activeElement.matches('button[data-copy]')")


def contrast(foreground: str, background: str) -> float:
    """The WCAG contrast ratio of two CSS rgb() colours."""
    def luminance(colour: str) -> float:
        channels = [int(c) / 255 for c in re.findall(r"\d+", colour)[:3]]
        linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]
    lighter, darker = sorted((luminance(foreground), luminance(background)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)
