"""The server-rendered pages over the real seed index: form, results, context, speeches, errors, escaping."""
from __future__ import annotations

import csv
import io
import re
from html import unescape
from urllib.parse import parse_qsl, quote, urlsplit

import pytest

from index.errors import StoreUnavailable
from index.request import MAX_K, MAX_QUERY_CHARS
from service import create_app
import service.state as service_state
from tests.conftest import MARKUP_TITLE


def page(response, status: int = 200) -> str:
    assert response.status_code == status, response.get_data(as_text=True)[:500]
    assert response.mimetype == "text/html"
    html = response.get_data(as_text=True)
    assert html.startswith("<!doctype html>") and '<html lang="zh-CN">' in html
    assert "Traceback" not in html
    return html


def results_of(html: str) -> list[str]:
    return re.findall(r'<li class="result" id="r-[^"]+">(.*?)\n</li>', html, flags=re.S)


def params_of(href: str) -> dict[str, str]:
    """The query parameters of a link as the page writes it (each given once)."""
    return dict(parse_qsl(urlsplit(unescape(href)).query))


REWORD = "换个说法再问：用讲话材料里常见的提法，少用口语"


def suggestions(html: str) -> list[tuple[str, dict[str, str] | None]] | None:
    """The no-answer box's suggestions: (what it says, the parameters of the results page it links to, or
    None for advice without a link); None when the page has no such box."""
    box = re.search(r'<div class="notice no-answer" role="status">(.*?)</div>', html, flags=re.S)
    if box is None:
        return None
    offered = []
    for item in re.findall(r"<li>(.*?)</li>", box.group(1), flags=re.S):
        href = re.search(r'<a href="([^"]+)">', item)
        assert href is None or urlsplit(href.group(1)).path == "/"
        offered.append((unescape(re.sub(r"<[^>]+>", "", item)), href and params_of(href.group(1))))
    return offered


def test_home_page_has_the_form_and_is_self_contained(client, searcher):
    html = page(client.get("/"))
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in html
    assert '<input type="search" name="q" value=""' in html
    assert f'name="k" min="1" max="{MAX_K}" value="10"' in html
    assert re.findall(r'<option value="(hybrid|dense|bm25)"', html) == ["hybrid", "dense", "bm25"]
    assert '<option value="hybrid" selected>' in html
    speech_options = re.findall(r'<option value="([0-9a-f-]+)"', html)
    assert speech_options == [s.id for s in searcher.speeches]
    assert not re.search(r'(src|href)="(https?:)?//', html), "no external resources"
    assert 'href="/static/style.css"' in html


def test_stylesheet_takes_chinese_typography_seriously(client):
    with client.get("/static/style.css") as response:
        assert response.status_code == 200 and response.mimetype == "text/css"
        css = response.get_data(as_text=True)
    assert '"PingFang SC", "Hiragino Sans GB", "Noto Sans CJK SC", "Source Han Sans SC"' in css
    assert '"Microsoft YaHei"' in css and "line-height: 1.8" in css
    assert "max-width: 46rem" in css and "@media (max-width: 600px)" in css
    assert "http" not in css


def test_results_page_shows_highlights_best_sentence_path_and_links(client, searcher):
    question = "如何保障粮食安全？"
    html = page(client.get("/", query_string={"q": question, "k": 3}))
    hits = searcher.search(question, k=3)
    results = results_of(html)
    assert len(results) == 3
    first, hit = results[0], hits[0]
    assert "<mark>粮食安全</mark>" in first
    assert '<strong class="best">' in first
    assert f'>{hit.passage.speech_title}</a>' in first
    for heading in hit.passage.section:
        assert f'<span class="sep"> › </span>{heading}' in first
    assert f'href="/passages/{hit.passage.id}?q={quote(question)}&amp;k=3"' in first
    assert f'href="/speeches/{hit.passage.speech_id}?q={quote(question)}&amp;k=3#p-{hit.passage.id}"' in first
    assert f'value="{question}"' in html, "the query stays in the box"
    assert [re.search(r'href="/passages/([^"?]+)', r).group(1) for r in results] == [h.passage.id for h in hits]


def test_a_question_that_names_a_speech_says_which_and_what_it_looked_for_there(client, searcher):
    question = "讲壮乡首府安全屏障的那篇，维护政治安全这块说了什么"
    answer = searcher.answer(question, k=5)
    html = page(client.get("/", query_string={"q": question, "k": 5}))
    title = searcher.speech(answer.named_speech).title
    link = f'<a href="/speeches/{answer.named_speech}?q={quote("维护政治安全这块说了什么")}">{title}</a>'
    assert f"问题指向《{link}》：前几条是这篇讲话中回答“维护政治安全这块说了什么”的段落。" in html
    assert [re.search(r'href="/passages/([^"?]+)', r).group(1) for r in results_of(html)] == [
        h.passage.id for h in answer.hits]
    assert "问题指向" not in page(client.get("/", query_string={"q": "如何保障粮食安全？"}))


def test_a_question_that_lists_its_speechs_parts_says_so(client):
    html = page(client.get("/", query_string={"q": "哪篇发言分成根本原则、中心任务、最终目的、重要法宝四块来讲？"}))
    assert "问题按“根本原则、中心任务、最终目的、重要法宝”几部分找讲话：前几条是同时讲到它们的讲话里的段落。" in html
    assert "几部分找讲话" not in page(client.get("/", query_string={"q": "如何保障粮食安全？"}))


def test_a_question_that_names_a_speaker_says_so(find_searcher):
    client = create_app({"TESTING": True}, searcher=find_searcher).test_client()
    html = page(client.get("/", query_string={"q": "王五关于保交楼说过什么"}))
    assert "问题提到讲话人王五：前几条是其讲话中回答这个问题的段落。" in html
    assert "问题提到讲话人" not in page(client.get("/", query_string={"q": "赵六关于保交楼说过什么"}))


@pytest.mark.parametrize("mode", ["hybrid", "dense", "bm25"])
def test_results_page_respects_mode_k_and_speech(client, searcher, mode):
    speech = searcher.speeches[0]
    html = page(client.get("/", query_string={"q": "安全", "k": 2, "mode": mode, "speech": speech.id}))
    results = results_of(html)
    assert len(results) == 2
    searched = f"q=%E5%AE%89%E5%85%A8&amp;k=2&amp;mode={mode}&amp;speech={speech.id}"
    assert all(f'href="/speeches/{speech.id}?{searched}#p-' in r for r in results)
    assert f'<option value="{mode}" selected>' in html
    assert f'<option value="{speech.id}" selected>' in html


def test_no_results_is_a_friendly_200(client):
    html = page(client.get("/", query_string={"q": "zzqqxxyy", "mode": "bm25"}))
    assert results_of(html) == []
    assert "没有找到相关段落" in html


ALERT = '<p class="notice error" role="alert" id="form-error">'


def marked_fields(html: str) -> list[tuple[str, str]]:
    """(name, aria-describedby) of each form field marked aria-invalid, in the page's order."""
    fields = re.findall(r'<(?:input|select)[^>]*\bname="([^"]+)"([^>]*)>', html)
    return [(name, re.search(r'aria-describedby="([^"]+)"', rest).group(1))
            for name, rest in fields if 'aria-invalid="true"' in rest]


@pytest.mark.parametrize(("params", "message", "field"), [
    ({"q": ""}, "请输入一个问题", "q"),
    ({"q": "   "}, "请输入一个问题", "q"),
    ({"q": "粮" * (MAX_QUERY_CHARS + 1)}, f"问题太长了：最多 {MAX_QUERY_CHARS} 个字符（现在是 501 个）。", "q"),
    ({"q": "粮食", "k": "abc"}, f"结果数必须是 1 到 {MAX_K} 之间的整数。", "k"),
    ({"q": "粮食", "k": "0"}, f"结果数必须是 1 到 {MAX_K} 之间的整数。", "k"),
    ({"q": "粮食", "k": "51"}, f"结果数必须是 1 到 {MAX_K} 之间的整数。", "k"),
    ({"q": "粮食", "mode": "sparse"}, "检索方式只能是“混合（语义＋关键词）”、“语义”、“关键词（BM25）”，请在表单中重新选择。",
     "mode"),
    ({"q": "粮食", "speech": "nope"}, "没有这篇讲话（nope），请在列表中重新选择。", "speech"),
    ({"q": "粮食", "from": "2023/4/15"}, "起始日期要写成 2023-04-15 这样的格式（或 2023-04、2023，指整月、整年）。", "from"),
    ({"q": "粮食", "from": "2023-05-01", "to": "2023-04-01"}, "起始日期晚于截止日期，请对调两个日期。", "from"),
    ({"q": "粮食", "from": "2023-05-01", "to": "2023/4/1"}, "截止日期要写成 2023-04-15 这样的格式（或 2023-04、2023，指整月、整年）。", "to"),
    ({"q": "粮食", "to": "2023-02-29"}, "截止日期没有这一天，请检查月份和日子。", "to"),
    ({"q": "粮食", "sort": "size"}, "分组或排序的选项不对，请在表单中重新选择。", "sort"),
])
def test_bad_parameters_give_a_friendly_400(client, params, message, field):
    html = page(client.get("/", query_string=params), 400)
    assert f"{ALERT}{message}" in html
    assert '<form class="search"' in html, "the form is still there to fix the question"
    # the field at fault is marked and described by the message; the question box keeps its help line
    assert marked_fields(html) == [(field, "form-error syntax-help" if field == "q" else "form-error")]
    assert re.findall(r'<(?:input|select)[^>]*\bname="([^"]+)"[^>]*\bautofocus\b', html) == [field]
    assert "<title>检索有误 - " in html and '<h1 class="visually-hidden">检索有误</h1>' in html
    if field in ("from", "to", "sort"):
        assert '<details class="filters-box" open>' in html, "the field at fault is not folded away"


def test_a_query_string_that_is_not_utf8_is_a_friendly_400(client):
    html = page(client.get("/?q=%ED%A0%80"), 400)
    assert "请求有误，请检查地址或重新检索。" in html and not results_of(html)


# The second query opens a phrase it never closes: a syntax error, answered with the form (400), escaped too.
@pytest.mark.parametrize("query, status", [("<script>alert(1)</script>", 200), ('"><img src=x onerror=alert(1)>', 400),
                                           ('"><img src=x onerror=alert(1)>"', 200),
                                           ("粮食安全<script>alert(1)</script>", 200)])
def test_queries_are_escaped_everywhere(client, query, status):
    html = page(client.get("/", query_string={"q": query}), status)
    assert "<script>" not in html and "<img" not in html
    escaped = query.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&#34;")
    assert f'value="{escaped}"' in html


def test_query_escaping_survives_the_passage_page(client, searcher):
    passage = searcher.passages[0]
    html = page(client.get(f"/passages/{passage.id}", query_string={"q": '"><script>alert(1)</script>'}))
    assert "<script>" not in html
    assert "&#34;&gt;&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_markup_in_a_speech_file_renders_as_text(markup_client, markup_searcher):
    speech = markup_searcher.speeches[0]
    assert speech.title == MARKUP_TITLE
    escaped_title = "测试标题&#34;&gt;&lt;img src=x onerror=alert(1)&gt;"
    for html in (page(markup_client.get("/", query_string={"q": "标签测试"})),
                 page(markup_client.get(f"/speeches/{speech.id}")),
                 page(markup_client.get("/speeches")),
                 page(markup_client.get(f"/passages/{markup_searcher.passages[0].id}"))):
        assert "<script>" not in html and "<img" not in html
        assert escaped_title in html
    html = page(markup_client.get("/", query_string={"q": "script 标签测试"}))
    assert "&lt;<mark>script</mark>&gt;alert(1)&lt;/<mark>script</mark>&gt;" in html


def test_passage_page_shows_previous_and_next_with_highlights(client, searcher):
    passages = searcher.speech_passages(searcher.speeches[0].id)
    middle = passages[1]
    html = page(client.get(f"/passages/{middle.id}", query_string={"q": "安全"}))
    assert passages[0].text.splitlines()[0] in html
    assert passages[2].text.splitlines()[0] in html
    assert "<mark>安全</mark>" in html
    assert f'href="/speeches/{middle.speech_id}?q=%E5%AE%89%E5%85%A8#p-{middle.id}"' in html
    assert 'href="/?q=%E5%AE%89%E5%85%A8"' in html, "a way back to the results"


def test_passage_page_marks_the_edges_of_a_speech(client, searcher):
    passages = searcher.speech_passages(searcher.speeches[0].id)
    assert "（这是讲话的第一段）" in page(client.get(f"/passages/{passages[0].id}"))
    assert "（这是讲话的最后一段）" in page(client.get(f"/passages/{passages[-1].id}"))


def test_speech_page_has_outline_and_anchors(client, searcher):
    speech = searcher.speeches[0]
    passages = searcher.speech_passages(speech.id)
    html = page(client.get(f"/speeches/{speech.id}"))
    assert f'<h1 class="speech-title">{speech.title}</h1>' in html
    assert re.findall(r'<section class="passage[^"]*" id="p-([^"]+)"', html) == [p.id for p in passages]
    first_of = {}
    for p in passages:
        first_of.setdefault(p.section, p.id)
    for path in speech.sections:
        if path:
            assert f'<a href="#p-{first_of[path]}">{path[-1]}</a>' in html


def test_speeches_page_lists_every_speech(client, searcher):
    html = page(client.get("/speeches"))
    assert re.findall(r'<a href="/speeches/([^"]+)">', html) == [s.id for s in searcher.speeches]
    assert f"{len(searcher.speeches)} 篇" in html


@pytest.mark.parametrize(("path", "message"), [
    ("/speeches/nope", "没有这篇讲话（nope）。"),
    ("/passages/nope", "没有这个段落（nope）。"),
    ("/passages/%3Cscript%3E", "没有这个段落（&lt;script&gt;）。"),
    ("/no/such/page", "没有这个页面（/no/such/page）。"),
])
def test_unknown_pages_are_friendly_404s(client, path, message):
    html = page(client.get(path), 404)
    assert "<h1>没有找到 <small>404</small></h1>" in html
    assert message in html


@pytest.mark.parametrize(("path", "meant"), [("/passages//x", "/passages/x"), ("/speeches//x", "/speeches/x"),
                                             ("/static//tools.js", "/static/tools.js")])
def test_a_page_path_with_a_double_slash_is_a_404_naming_the_path_meant_not_a_redirect(client, path, meant):
    # werkzeug's 308 built its Location from the Host header: a forged one sent the reader to another site
    response = client.get(path, headers={"Host": "evil.example"})
    assert response.status_code == 404 and "Location" not in response.headers
    assert f"没有这个页面（{path}），是不是要找 {meant}？" in page(response, 404)


def test_a_page_path_with_an_empty_id_names_no_other_page(client):
    # merged, /passages//similar is the passage with the id "similar", which was offered as the page meant
    assert "没有这个页面（/passages//similar）：地址里的编号是空的。" in page(client.get("/passages//similar"), 404)


def test_wrong_method_is_a_friendly_405(client):
    html = page(client.post("/"), 405)
    assert "不支持这种请求方式" in html


@pytest.mark.parametrize("path", ["/", "/?q=粮食", "/speeches", "/speeches/x", "/passages/x"])
def test_without_an_index_pages_say_what_to_run(tmp_path, path):
    client = create_app({"TESTING": True, "INDEX": str(tmp_path / "nothing"), "RELOAD_INTERVAL": 0}).test_client()
    html = page(client.get(path), 503)
    assert "索引尚未就绪" in html and "speechqa build" in html
    assert str(tmp_path) not in html, "a reader is not shown the server's paths"


@pytest.mark.parametrize("path", ["/", "/?q=粮食", "/speeches"])
def test_milvus_away_with_nothing_served_is_the_store_page_on_every_page(tmp_path, monkeypatch, path):
    # a reload that found Milvus away while no build was served leaves the holder its StoreUnavailable
    # (service/state.py): the search page said to build the index, where the others said to wait for Milvus
    def milvus_away(*args, **kwargs):
        raise StoreUnavailable("Milvus at http://milvus.invalid:19530 is unreachable or did not answer within 5 s")

    app = create_app({"TESTING": True, "INDEX": str(tmp_path / "nothing"), "RELOAD_INTERVAL": 0, "RELOAD_TOKEN": "t"})
    monkeypatch.setattr(service_state, "load_searcher", milvus_away)
    refused = app.test_client().post("/api/admin/reload", headers={"Authorization": "Bearer t"})
    assert (refused.status_code, refused.get_json()["error"]["code"]) == (503, "store_unavailable")
    html = page(app.test_client().get(path), 503)
    assert "<h1>索引存储暂时连不上 <small>503</small></h1>" in html
    assert "暂时不能检索：服务器连不上存放索引的 Milvus。" in html and "不需要重建索引" in html
    assert "speechqa build" not in html and "milvus.invalid" not in html


def test_genuine_bug_is_a_friendly_500(client, searcher, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(searcher, "search", broken)
    html = page(client.get("/", query_string={"q": "粮食"}), 500)
    assert "服务器内部错误" in html and "secret" not in html


def test_pages_allow_only_their_own_script_by_policy(client):
    response = client.get("/")
    assert "script-src 'self';" in response.headers["Content-Security-Policy"]
    assert "unsafe" not in response.headers["Content-Security-Policy"]
    assert response.headers["Content-Security-Policy"].startswith("default-src 'none'")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    # the question rides in the URL: no other site learns it from a followed link
    assert response.headers["Referrer-Policy"] == "same-origin"


def test_an_export_is_kept_by_no_cache(client, searcher):
    passage = searcher.passages[0].id
    for response in (client.get("/export", query_string={"cart": passage, "format": "csv"}),
                     client.post("/api/export", json={"ids": [passage], "format": "docx"})):
        assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"


def test_a_result_shows_its_excerpt_first_and_the_whole_passage_in_place(client, searcher):
    question = "如何保障粮食安全？"
    html = page(client.get("/", query_string={"q": question, "k": 3}))
    first = results_of(html)[0]
    hit = searcher.search(question, k=1)[0]
    excerpt = re.search(r'<p class="text excerpt">(.*?)</p>', first, flags=re.S).group(1)
    assert excerpt.startswith("…") or excerpt.startswith("<strong")
    assert excerpt.count('<strong class="best">') == 1
    assert f'<details class="whole">\n    <summary aria-describedby="t-{hit.passage.id}">展开全段</summary>' in first
    whole = re.search(r'<details class="whole">.*?<p class="text">(.*?)</p>', first, flags=re.S).group(1)
    assert re.sub(r"<[^>]+>", "", whole) == hit.passage.text
    meter = re.search(r'<meter min="0" max="1" value="0\.(\d\d)" aria-label="回答概率" '
                      r'aria-valuetext="(\d+)%，(.*?)"></meter> <span aria-hidden="true">(很可能回答了问题|可能相关|相关性较弱)</span>', first)
    # named, and its value said as the page words it (the two roundings may part by a point)
    assert meter and abs(int(meter.group(1)) - int(meter.group(2))) <= 1 and meter.group(3) == meter.group(4)
    similar = re.search(r'<a class="similar" href="([^"]+)" aria-describedby="t-[^"]+">相似说法</a>', first).group(1)
    # the similar page keeps the search, so its way back to the passage leads back to these results
    assert similar.startswith(f"/passages/{hit.passage.id}/similar?") and params_of(similar)["q"] == question
    back = re.search(r'<a href="([^"]+)">← 回到原段落</a>', page(client.get(unescape(similar)))).group(1)
    assert params_of(back)["q"] == question


def test_the_citation_box_and_the_copy_button_that_a_script_reveals(client, searcher):
    html = page(client.get("/", query_string={"q": "如何保障粮食安全？", "k": 1}))
    passage = searcher.search("如何保障粮食安全？", k=1)[0].passage
    box = re.search(r'<textarea class="citation" readonly rows="5" aria-label="[^"]+">(.*?)</textarea>', html,
                    flags=re.S).group(1)
    assert box.startswith(passage.text.replace('"', "&#34;")[:20])
    # the grain answer is in the seeds' untitled speech, cited with its made-up title marked and its file
    assert box.endswith(f"（摘自无标题讲话〔拟题：{passage.speech_title}；{passage.source}〕，{' › '.join(passage.section)}）")
    # beside it, the bold sentence alone with the same source line, which a writer quotes more often
    bold = re.search(r'<strong class="best">(.*?)</strong>', html, flags=re.S).group(1)
    sentence = re.search(r'<textarea class="citation sentence" readonly rows="3" aria-label="[^"]+">(.*?)</textarea>',
                         html, flags=re.S).group(1)
    assert sentence == re.sub(r"<[^>]+>", "", bold) + "\n" + box.splitlines()[-1]
    assert '<button type="button" class="copy" data-copy hidden>复制本句引用</button>' in html
    assert '<button type="button" class="copy" data-copy hidden>复制引用</button>' in html
    assert '<script src="/static/tools.js" defer></script>' in html
    with client.get("/", query_string={"q": "粮食"}) as response:
        assert "script-src 'self'" in response.headers["Content-Security-Policy"]


def test_the_cart_lives_in_the_url_and_downloads_in_order(client, searcher):
    ids = [searcher.passages[i].id for i in (4, 1, 9)]
    html = page(client.get("/", query_string={"q": "粮食安全", "k": 3, "cart": ",".join(ids + [ids[0], "gone"])}))
    cart = re.search(r'<aside class="cart".*?</aside>', html, flags=re.S).group(0)
    assert "<strong>摘录 3 段</strong>" in cart
    assert "有 1 段摘录已不在当前索引中" in cart  # "gone", an id of an older build, is said to be dropped
    assert re.findall(r'<li><span class="entry" id="entry-[^"]+">(.*?)(?:<span|</span>)', cart) == [
        searcher.passages[i].speech_title for i in (4, 1, 9)]
    for name in ("markdown", "csv", "docx"):
        assert f'href="/export?format={name}&amp;cart={",".join(ids)}" download>' in cart
    assert f'<input type="hidden" name="cart" value="{",".join(ids)}">' in html, "a new search keeps the cart"
    with client.get("/export", query_string={"cart": ",".join(ids), "format": "markdown"}) as response:
        assert response.status_code == 200
        assert response.headers["Content-Disposition"] == 'attachment; filename="speechqa-export.md"'
        headings = [line for line in response.get_data(as_text=True).splitlines() if line.startswith("## ")]
        assert [h.split(" ", 2)[2].split(" · ")[0] for h in headings] == [searcher.passages[i].speech_title
                                                                        for i in (4, 1, 9)]
    assert "摘录为空，或格式不对" in page(client.get("/export", query_string={"format": "csv"}), 400)
    # a cart of dropped passages alone still says what became of them
    alone = page(client.get("/", query_string={"q": "粮食安全", "cart": "gone"}))
    assert "有 1 段摘录已不在当前索引中" in alone and "<strong>摘录" not in alone


def test_no_answer_suggests_the_exact_wording_the_default_mode_and_rewording(client):
    html = page(client.get("/", query_string={"q": "红烧肉", "mode": "bm25"}))
    assert suggestions(html) == [
        ("按原文提法精确查找", {"q": '"红烧肉"', "mode": "bm25"}),
        ("改用“混合（语义＋关键词）”方式", {"q": "红烧肉", "mode": "hybrid"}),
        (REWORD, None),
    ]


def test_phrases_and_filters_alone_ask_nothing_a_mode_could_answer_better(client):
    def notice(query):
        html = page(client.get("/", query_string={"q": query}))
        found = re.search(r'<div class="notice no-answer" role="status">\s*<p>(.*?)</p>', html, flags=re.S)
        return found and (re.sub(r"<[^>]+>", "", found.group(1)).strip(), suggestions(html))

    # what holds the wording is the answer, however it ranks
    assert notice('"保交楼"') is None and notice("标题：晋中") is None and notice("-粮食") is None
    # wording no passage holds: its words searched freely may find it, another mode cannot
    absent = "没有找到相关段落。库中没有一段含有“上海交通大学”这一提法。可以试试："
    assert notice('"上海交通大学"') == (absent, [("去掉引号，按意思查找", {"q": "上海交通大学"})])
    assert notice('"上海交通大学" -粮食 标题：安全') == (
        absent, [("去掉引号，按意思查找", {"q": "上海交通大学 -粮食 title:安全"})])
    # with nothing left to search once the filter is gone, there is nothing to suggest
    assert notice("标题：不存在的标题") == ("没有找到相关段落。没有标题含“不存在的标题”的讲话。", [])


@pytest.mark.parametrize("question", ["How to bake sourdough bread at home?", "title:邢台 安全"])
def test_every_suggestion_keeps_the_cart_k_mode_scope_and_filters(client, searcher, question):
    kept = {"k": "3", "mode": "hybrid", "speech": searcher.speeches[0].id, "sort": "date",
            "cart": searcher.passages[0].id}
    offered = [params for _, params in suggestions(page(client.get("/", query_string={"q": question} | kept)))
               if params]
    assert offered
    for params in offered:
        assert params.pop("q") != question
        assert params == kept


@pytest.mark.parametrize(("question", "fewer"), [
    ("How to bake sourdough bread at home?", "bake sourdough bread home"),
    ("Which football clubs won the European championship?", "football clubs won European championship"),
    ("如何做红烧肉？", "做 红烧肉"),
    ("How to", None),  # nothing but filler words
    ("bake bread", None),  # nothing to leave out
])
def test_fewer_words_keeps_the_meaningful_ones_and_never_the_same_query(client, question, fewer):
    offered = suggestions(page(client.get("/", query_string={"q": question})))
    assert [params["q"] for words, params in offered if words.startswith("少用几个词")] == ([fewer] if fewer else [])
    assert all(params["q"] != question for _, params in offered if params)


# "fraud" quoted finds nothing in Chinese speeches, and that page offered the quotes away again
@pytest.mark.parametrize("question", ["怎么烤面包？", "😀🎉", "How to", "title:邢台 安全", "zzqqxxyy"])
def test_the_exact_wording_is_offered_only_where_quotes_can_find_it(client, question):
    offered = suggestions(page(client.get("/", query_string={"q": question})))
    assert offered and "按原文提法精确查找" not in [words for words, _ in offered]


def test_an_unanswered_question_is_offered_rewording_not_a_mode_that_claims_an_answer(client):
    for mode in ("hybrid", "bm25"):
        offered = suggestions(page(client.get("/", query_string={"q": "如何做红烧肉？", "mode": mode})))
        assert offered == [("少用几个词：做 红烧肉", {"q": "做 红烧肉", "mode": mode}), (REWORD, None)]


@pytest.mark.parametrize(("asked", "notes", "offered"), [
    ({"q": "title:邢台 安全"}, "没有标题含“邢台”的讲话。", ("去掉标题限定“邢台”", {"q": "安全"})),
    ({"q": '"安全" -粮食 标题：邢台 标题：安全'}, "没有标题含“邢台”的讲话。",
     ("去掉标题限定“邢台”", {"q": '"安全" -粮食 title:安全'})),
    ({"q": "粮食安全", "from": "2023-01-01", "to": "2023-12-31"}, "库里的讲话都没有标注日期，按日期筛选会排除全部讲话。",
     ("去掉日期限定", {"q": "粮食安全"})),
    ({"q": "粮食安全", "place": "南宁", "speaker": "张三"},
     "库里的讲话都没有标注地点，按地点筛选会排除全部讲话。库里的讲话都没有标注讲话人，按讲话人筛选会排除全部讲话。",
     ("去掉地点限定“南宁”、讲话人限定“张三”", {"q": "粮食安全"})),
])
def test_a_filter_that_emptied_the_list_is_offered_away_instead_of_dead_ends(client, searcher, asked, notes, offered):
    kept = {"k": "3", "mode": "bm25", "cart": searcher.passages[0].id}
    html = page(client.get("/", query_string=asked | kept))
    assert f"没有找到相关段落。{notes}可以试试：" in html
    words, params = offered
    assert suggestions(html) == [(words, params | kept)]


@pytest.mark.parametrize(("query", "note"), [
    ("“前提在于”“关键在于”", "“前提在于”见于 1 段、“关键在于”见于 1 段，没有一段同时含有它们。"),
    ("“前提在于” “烂尾楼”", "“前提在于”见于 1 段、“烂尾楼”没有一段含有。"),
    # Taiwan's 著 for 着 folds to nothing (simplified text has 著 too), and list marks are swapped freely
    ("「著力」", "库中没有一段含有“著力”这一提法。按简体写法，&#34;着力&#34; 见于 19 段。"),
    ('"保交楼,稳民生"', "库中没有一段含有“保交楼,稳民生”这一提法。换用原文的标点，&#34;保交楼、稳民生&#34; 见于 1 段。"),
    # the speeches quote a list's named items, which writers leave out
    ('"黑天鹅、灰犀牛"', "库中没有一段含有“黑天鹅、灰犀牛”这一提法。按原文加引号，&#34;“黑天鹅”、“灰犀牛”&#34; 见于 1 段。"),
])
def test_a_verbatim_check_of_phrases_no_passage_holds_together_says_where_each_is(client, query, note):
    html = page(client.get("/", query_string={"q": query}))
    assert f"没有找到相关段落。{note}" in html


@pytest.mark.parametrize(("query", "respelled"), [("「著力」", '"着力"'), ('"保交楼,稳民生"', '"保交楼、稳民生"'),
                                                  ('"安全,稳定"', None)])
def test_an_empty_verbatim_check_links_to_its_phrase_as_the_library_writes_it(client, query, respelled):
    offered = suggestions(page(client.get("/", query_string={"q": query, "k": 3})))
    # never an ellipsis in the marks' place: "安全……稳定" held 41 passages, none of them 安全、稳定
    assert [params["q"] for words, params in offered if words.startswith("改查")] == ([respelled] if respelled else [])


@pytest.mark.parametrize(("query", "message"), [
    ("“保交楼", "检索式有误：第 1 个字的引号 “ 没有配对的结束引号（在“保交楼处）。请在要原文查找的词后面补上 ”，或者删去这个引号。"),
    ("如何做好「保交楼工作", "检索式有误：第 5 个字的引号 「 没有配对的结束引号（在「保交楼工作处）。请在要原文查找的词后面补上 」，或者删去这个引号。"),
    ("”保交楼“", "检索式有误：第 5 个字的引号 “ 前面已有结束引号 ”，引号好像写反了。请写成 “…”。"),
    ("“保交楼“", "检索式有误：第 1 个字的引号 “ 后面又是开始引号 “，没有结束引号 ”。请写成 “…”。"),
    ("粮食 「」", "检索式有误：第 4 个字起的 「」 里没有要查找的字。请在引号里写上要原文查找的词，或者删去这对引号。"),
    ("“……” 粮食", "检索式有误：第 1 个字起的 “……” 里没有要查找的字。请在引号里写上要原文查找的词，或者删去这对引号。"),
    ("title:", "检索式有误：第 1 个字的 title: 后面没有词。请写上标题里要有的词（例如 title:安全），或者删去它。"),
    ("粮食 -标题：", "检索式有误：第 4 个字的 -标题： 后面没有词。请写上标题里不能有的词（例如 -标题：安全），或者删去它。"),
    ('"' + "，…" * 30 + '，"', "检索式有误：引号里的原文片段、排除词和标题条件共 31 个，最多 30 个。请删去一些。"),
])
def test_a_syntax_error_says_in_chinese_what_is_wrong_and_where(client, query, message):
    html = page(client.get("/", query_string={"q": query}), 400)
    assert f"{ALERT}{message}</p>" in html


@pytest.mark.parametrize(("query", "message"), [
    ("\u200b", "请输入一个问题（中文或英文均可），例如：如何保障粮食安全？"),  # nothing a reader sees: empty, not "too long"
    ("\u200b\u200b粮食 -title:", "检索式有误：第 4 个字的 -title: 后面没有词。请写上标题里不能有的词（例如 -title:安全），或者删去它。"),
])
def test_the_page_words_an_error_in_the_question_as_it_was_checked(client, query, message):
    html = page(client.get("/", query_string={"q": query}), 400)
    assert f"{ALERT}{message}</p>" in html


def test_a_syntax_error_the_page_cannot_read_is_still_said_in_chinese():
    from index.errors import QuerySyntaxError
    from service.views import syntax_error_message

    assert syntax_error_message(QuerySyntaxError("a reason the parser learns later"), "q") == (
        "检索式有误：请检查引号是否成对、title: 后面是否有词。")


def test_speech_page_shows_headings_and_keeps_the_query_highlights(client, searcher):
    speech = searcher.speeches[0]
    html = page(client.get(f"/speeches/{speech.id}", query_string={"q": "安全"}))
    top_level = list(dict.fromkeys(path[0] for path in speech.sections if path))
    assert re.findall(r'<h2 class="section-heading depth-1">(.*?)</h2>', html) == top_level
    assert "<mark>安全</mark>" in html
    assert f'href="/passages/{searcher.speech_passages(speech.id)[0].id}?q=%E5%AE%89%E5%85%A8"' in html


def test_similar_page_lists_other_speeches(client, searcher):
    source = searcher.passages[10]
    html = page(client.get(f"/passages/{source.id}/similar"))
    ids = re.findall(r'<li class="result" id="r-([^"]+)">', html)
    assert ids == [h.passage.id for h in searcher.similar(source.id, 10)]
    assert "其他讲话里的相近说法" in html and source.speech_title in html


def test_a_made_up_title_is_marked_on_the_pages_and_never_cited_as_a_title(client, searcher):
    untitled = next(s for s in searcher.speeches if s.title_inferred)
    passage = next(p for p in searcher.passages if p.speech_id == untitled.id)
    for path in (f"/speeches/{untitled.id}", f"/passages/{passage.id}"):
        html = page(client.get(path))
        assert untitled.title in html and '<span class="inferred" title="原文无标题，据正文拟定">〔拟题〕</span>' in html
    citation = client.get(f"/api/passages/{passage.id}/citation").get_json()["citation"]
    assert f"（摘自无标题讲话〔拟题：{untitled.title}；{untitled.source}〕" in citation and f"《{untitled.title}》" not in citation
    titled = next(s for s in searcher.speeches if not s.title_inferred)
    assert "〔拟题〕" not in page(client.get(f"/speeches/{titled.id}"))


def test_the_page_marks_what_a_relaxed_question_was_ranked_by(client):
    html = page(client.get("/", query_string={"q": 'What is the "lake revolution" campaign?', "k": 3}))
    assert "<mark>湖泊革命</mark>" in results_of(html)[0]


def test_a_verbatim_checks_pages_link_to_each_other(client):
    first = page(client.get("/", query_string={"q": "“两个维护”", "k": 5}))
    assert "共 13 条符合，显示前 5 条" in first and 'rel="next">下一页（第 6 条起）</a>' in first
    second = page(client.get("/", query_string={"q": "“两个维护”", "k": 5, "offset": 5}))
    assert "共 13 条符合，显示第 6–10 条" in second and '<ol class="results" start="6"' in second
    assert 'rel="prev">上一页</a>' in second and "offset=10" in second
    last = page(client.get("/", query_string={"q": "“两个维护”", "k": 5, "offset": 10}))
    assert "显示第 11–13 条" in last and 'rel="next"' not in last
    past = page(client.get("/", query_string={"q": "“两个维护”", "k": 5, "offset": 20}))
    assert "共 13 条符合，第 20 条之后没有了" in past and "没有找到相关段落" not in past
    # a page of a question with words is no page: said in the page's words
    refused = page(client.get("/", query_string={"q": "两个维护", "offset": 5}), 400)
    assert "翻页只用于原文核查" in refused


def test_the_page_says_how_many_results_hold_a_quote_few_passages_hold(client):
    question = "通渭县的发言按“前提”“关键”“重点”分三部分，其中“关键”指的是什么？"  # one passage holds all three
    html = page(client.get("/", query_string={"q": question, "k": 5}))
    assert "只有前 1 条包含引号里的原文；其后是不限定原文措辞的结果。" in html
    assert len(results_of(html)) == 5


def test_confidence_words_start_related_at_the_answered_threshold():
    from service.views import confidence_words

    assert [confidence_words(c, 0.36) for c in (0.9, 0.7, 0.5, 0.36, 0.35, 0.0)] == [
        "很可能回答了问题", "很可能回答了问题", "可能相关", "可能相关", "相关性较弱", "相关性较弱"]
    assert confidence_words(0.75, 0.8) == "很可能回答了问题" and confidence_words(None, 0.36) is None


def test_a_verbatim_check_says_how_many_passages_hold_it_and_calls_none_an_answer(client, searcher):
    html = page(client.get("/", query_string={"q": "“两个维护”", "k": 5}))
    total = len(searcher.search("“两个维护”", k=50))
    assert total > 5 and f"共 {total} 条符合，显示前 5 条" in html
    assert 'class="confidence"' not in html
    asked = page(client.get("/", query_string={"q": "如何做到两个维护？", "k": 5}))
    assert "显示最相关的 5 条" in asked and 'class="confidence"' in asked


def test_an_export_link_with_an_id_of_an_older_build_exports_the_rest(client, searcher):
    ids = [searcher.passages[2].id, searcher.passages[5].id]
    with client.get("/export", query_string={"cart": f"gone,{','.join(ids)}", "format": "CSV"}) as response:
        assert response.status_code == 200 and response.headers["X-SpeechQA-Dropped"] == "1"
        rows = list(csv.reader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))
        assert [row[1] for row in rows[1:]] == ids
    assert "都已不在当前索引中" in page(client.get("/export", query_string={"cart": "gone", "format": "csv"}), 400)


def test_the_cart_follows_to_the_passage_and_speech_pages_and_back(client, searcher):
    ids = ",".join(p.id for p in searcher.passages[:2])
    results = page(client.get("/", query_string={"q": "粮食安全", "k": 3, "cart": ids}))
    first = searcher.search("粮食安全", k=1)[0].passage
    assert f'href="/passages/{first.id}?q={quote("粮食安全")}&amp;k=3&amp;cart={ids}"' in results
    for path in (f"/passages/{first.id}", f"/speeches/{first.speech_id}", "/"):
        html = page(client.get(path, query_string={"cart": ids}))
        assert "<strong>摘录 2 段</strong>" in html, path
    speech_page = page(client.get(f"/speeches/{first.speech_id}", query_string={"cart": ids}))
    assert f'<input type="hidden" name="cart" value="{ids}">' in speech_page, "a search from the speech keeps it"


def test_an_answer_a_filter_emptied_says_which(client, searcher):
    assert all(s.date is None for s in searcher.speeches)  # the seeds name no dates
    html = page(client.get("/", query_string={"q": "粮食安全", "from": "2023-01-01"}))
    assert "库里的讲话都没有标注日期，按日期筛选会排除全部讲话。" in html
    assert "没有标题含“邢台”的讲话。" in page(client.get("/", query_string={"q": "title:邢台 生态"}))
    assert "没有标题含" not in page(client.get("/", query_string={"q": "title:粮食 生态"}))


@pytest.fixture
def find_client(find_searcher):
    """A Flask test client over tests/conftest.py's FIND_CORPUS (dated speeches, a reprint)."""
    return create_app({"TESTING": True}, searcher=find_searcher).test_client()


def test_more_context_and_its_way_back_keep_the_search(client, searcher):
    asked = {"q": "防范化解风险", "k": "3", "mode": "dense", "speech": searcher.speeches[1].id, "sort": "date",
             "cart": searcher.passages[0].id}
    first = results_of(page(client.get("/", query_string=asked)))[0]
    more = re.search(r'<a class="more" href="([^"]+)" aria-describedby="t-[^"]+">更多上下文</a>', first).group(1)
    assert params_of(more) == asked
    context = page(client.get(unescape(more)))
    back = re.search(r'<a href="([^"]+)">← 返回检索结果：防范化解风险</a>', context).group(1)
    assert urlsplit(unescape(back)).path == "/" and params_of(back) == asked
    # by way of the whole speech, too
    full = re.search(r'<a class="full" href="([^"#]+)#p-[^"]+">在全文中查看</a>', context).group(1)
    assert params_of(full) == asked
    whole = page(client.get(unescape(full)))
    anchors = re.findall(r'<a class="anchor" href="([^"]+)" title="查看上下文">', whole)
    assert anchors and all(params_of(anchor) == asked for anchor in anchors)
    back = re.search(r'<a href="([^"]+)">← 返回检索结果：防范化解风险</a>', whole).group(1)
    assert params_of(back) == asked


def test_the_passage_page_offers_the_cart_the_citation_and_similar_passages(client, searcher):
    passage = searcher.passages[10]
    html = page(client.get(f"/passages/{passage.id}", query_string={"q": "安全"}))
    current = re.search(r'<section class="current".*?</section>', html, flags=re.S).group(0)
    assert (f'<a class="cart-add" href="/passages/{passage.id}?q=%E5%AE%89%E5%85%A8&amp;cart={passage.id}'
            f'&amp;cart_news=added#p-{passage.id}">加入摘录</a>') in current
    assert f'<a class="similar" href="/passages/{passage.id}/similar?q=%E5%AE%89%E5%85%A8">相似说法</a>' in current
    citation = client.get(f"/api/passages/{passage.id}/citation").get_json()["citation"]
    box = re.search(r'<textarea class="citation" readonly rows="5" aria-label="[^"]+">(.*?)</textarea>', current,
                    flags=re.S).group(1)
    assert unescape(box) == citation
    assert '<button type="button" class="copy" data-copy hidden>复制引用</button>' in current
    added = page(client.get(f"/passages/{passage.id}", query_string={"q": "安全", "cart": passage.id}))
    assert "<strong>摘录 1 段</strong>" in added
    assert (f'<a class="uncart" href="/passages/{passage.id}?q=%E5%AE%89%E5%85%A8&amp;cart_news=removed'
            f'#p-{passage.id}">移出摘录</a>') in added


def test_the_speech_page_and_the_list_show_date_place_speaker_and_occasion(find_client, find_searcher):
    about = {"a_original.txt": "2021年9月1日 · 南宁 · 张三 · 全市国家安全工作会议", "b_reprint.txt": "2023年4月15日 · 柳州 · 李四",
             "c_grain.txt": "2022年5月10日 · 南宁 · 王五"}
    listing = page(find_client.get("/speeches"))
    assert re.findall(r'<span class="about">(.*?)</span>', listing) == [about[s.source] for s in find_searcher.speeches]
    for speech in find_searcher.speeches:
        assert f'<p class="about">{about[speech.source]}</p>' in page(find_client.get(f"/speeches/{speech.id}"))
    passage = find_searcher.speech_passages(find_searcher.speeches[0].id)[0]
    assert f'<p class="about">{about[passage.source]}</p>' in page(find_client.get(f"/passages/{passage.id}"))


def test_the_page_writes_dates_as_its_citations_do(find_client):
    html = page(find_client.get("/", query_string={"q": "“保交楼”"}))
    first = results_of(html)[0]
    assert '<span class="about">2021年9月1日 · 南宁 · 张三 · 全市国家安全工作会议</span>' in first
    assert "2021年9月1日" in re.search(r'<textarea class="citation"[^>]*>(.*?)</textarea>', first, flags=re.S).group(1)
    assert not re.search(r"\d{4}-\d{2}-\d{2}", re.sub(r'value="[^"]*"', "", html)), "no ISO date outside the inputs"


def test_a_stale_cart_id_is_gone_from_every_link(client, searcher):
    real = searcher.passages[3].id
    html = page(client.get("/", query_string={"q": "粮食", "k": 3, "cart": f"deadbeefdeadbeef,{real}"}))
    assert "有 1 段摘录已不在当前索引中" in html
    assert "deadbeef" not in html
    assert f'<a class="brand" href="/?cart={real}">' in html and f'<a href="/speeches?cart={real}">全部讲话</a>' in html
    links = [params_of(href) for href in re.findall(r'href="(/(?:passages|speeches)/[^"#]+)', html)]
    assert links and all(params["cart"] == real for params in links)
    more = re.search(r'<a class="more" href="([^"]+)"', html).group(1)
    assert "已不在当前索引中" not in page(client.get(unescape(more))), "the next page has nothing to repeat"


def test_a_full_cart_says_so_and_a_longer_one_what_it_left_out(client, searcher):
    shown = {hit.passage.id for hit in searcher.search("粮食安全", k=3)}
    others = [p.id for p in searcher.passages if p.id not in shown]
    full = page(client.get("/", query_string={"q": "粮食安全", "k": 3, "cart": ",".join(others[:50])}))
    assert "摘录已满（最多 50 段）：要加入别的段落，请先移出一些。" in full
    assert full.count('<span class="cart-full" title="摘录最多 50 段，请先移出一些">摘录已满</span>') == 3
    assert "加入摘录" not in full
    longer = page(client.get("/", query_string={"q": "粮食安全", "k": 3, "cart": ",".join(others[:51])}))
    assert "<strong>摘录 50 段</strong>" in longer and "摘录最多 50 段：链接里多出的 1 段没有放入。" in longer
    assert others[50] not in longer
    with client.get("/export", query_string={"cart": ",".join(others[:51]), "format": "csv"}) as response:
        assert response.status_code == 200 and response.headers["X-SpeechQA-Dropped"] == "1"


def test_a_page_of_results_goes_into_the_cart_in_one_step_as_far_as_it_has_room(client, searcher):
    def add_all(cart):
        html = page(client.get("/", query_string={"q": '"两个维护"', "k": 20, "cart": cart}))
        found = re.search(r'<a class="cart-add-all" href="([^"]+)#cart">本页全部加入摘录</a>', html)
        return found and params_of(unescape(found.group(1)))

    listed = [hit.passage.id for hit in searcher.search('"两个维护"', k=20)]
    assert len(listed) == 13
    params = add_all("")
    assert params["cart"] == ",".join(listed) and params["cart_news"] == "added" and params["q"] == '"两个维护"'
    # what the cart holds stays where it is, and only as many as it has room for join it
    others = [p.id for p in searcher.passages if p.id not in listed]
    assert add_all(listed[2])["cart"] == ",".join([listed[2], *listed[:2], *listed[3:]])
    assert add_all(",".join(others[:48]))["cart"] == ",".join([*others[:48], *listed[:2]])
    assert add_all(",".join(listed)) is None and add_all(",".join(others[:50])) is None


def test_more_in_this_speech_lists_every_one_of_them(client):
    asked = {"q": "安全", "k": "3", "mode": "bm25", "group": "speech"}
    results = results_of(page(client.get("/", query_string=asked)))
    counted = 0
    for result in results:
        found = re.search(r'<a class="in-speech" href="([^"]+)" aria-describedby="t-[^"]+">本篇另有 (\d+) 处</a>', result)
        if found is None:
            continue
        more = int(found.group(2))
        params = params_of(found.group(1))
        assert params == {"q": "安全", "k": str(more + 1), "mode": "bm25", "speech": params["speech"]}
        in_speech = results_of(page(client.get(unescape(found.group(1)))))
        assert len(in_speech) == more + 1 and more + 1 > int(asked["k"])
        counted += 1
    assert counted


def test_cart_entries_show_their_opening_words_and_a_made_up_title_mark(client, searcher):
    untitled = next(s for s in searcher.speeches if s.title_inferred)
    same_section = [p for p in searcher.speech_passages(untitled.id) if p.section][:2]
    assert same_section[0].section == same_section[1].section
    html = page(client.get("/", query_string={"cart": ",".join(p.id for p in same_section)}))
    entries = re.findall(r'<li><span class="entry" id="entry-[^"]+">(.*?)</span> <a [^>]+>移出</a>'
                         r'<span class="opening">(.*?)</span>', html)
    mark = '<span class="inferred" title="原文无标题，据正文拟定">〔拟题〕</span>'
    heading = f'<span class="sep"> › </span>{same_section[0].section[-1]}'
    assert [entry for entry, _ in entries] == [f"{untitled.title}{mark}{heading}"] * 2
    openings = [opening for _, opening in entries]
    assert openings[0] != openings[1]
    for passage, opening in zip(same_section, openings):
        assert opening.endswith("…") and len(opening) == 41 and opening[:-1] in " ".join(passage.text.split())


def test_a_made_up_title_is_marked_in_the_scope_list_the_speech_list_and_the_similar_page(client, searcher):
    untitled = next(s for s in searcher.speeches if s.title_inferred)
    mark = '<span class="inferred" title="原文无标题，据正文拟定">〔拟题〕</span>'
    assert f'<option value="{untitled.id}">{untitled.title}〔拟题〕</option>' in page(client.get("/"))
    assert f'>{untitled.title}</a>{mark}' in page(client.get("/speeches"))
    source = searcher.speech_passages(untitled.id)[1]
    assert f"<summary>原段落：{untitled.title}{mark}" in page(client.get(f"/passages/{source.id}/similar"))


def test_the_summary_quotes_nothing_twice_and_says_it_shows_the_best_k(client):
    html = page(client.get("/", query_string={"q": "“两个维护”", "k": 5}))
    assert '<p class="summary">检索 <span class="query">“两个维护”</span> · 共 ' in html and "““" not in html
    html = page(client.get("/", query_string={"q": "如何做到两个维护？", "k": 5}))
    assert '<p class="summary">检索 <span class="query">如何做到两个维护？</span> · 显示最相关的 5 条 · ' in html


def test_the_speech_page_counts_the_parts_its_outline_lists(client, searcher):
    speech = next(s for s in searcher.speeches if () in s.sections and len(s.sections) > 1)
    html = page(client.get(f"/speeches/{speech.id}"))
    outline = re.search(r'<nav class="outline".*?</nav>', html, flags=re.S).group(0)
    listed = len(re.findall(r"<li ", outline))
    assert listed == len(speech.sections) - 1  # the untitled lead-in is no part
    assert f"{speech.source} · {listed} 个部分 · {speech.passages} 段" in html


def test_a_question_of_spaces_leaves_the_tab_title_alone(client):
    assert "<title>检索有误 - 讲话素材问答 · speechqa</title>" in page(client.get("/", query_string={"q": "   "}), 400)


def test_filters_no_speech_passes_together_are_named_and_offered_away(find_client):
    # 李四 gave a speech and 南宁 has speeches, but 李四 spoke in 柳州: no wording would help
    asked = {"q": '"安全"', "place": "南宁", "speaker": "李四"}
    html = page(find_client.get("/", query_string=asked))
    assert "没有找到相关段落。没有一篇讲话同时满足这几个条件：地点含“南宁”、讲话人含“李四”。可以试试：" in html
    assert suggestions(html) == [("去掉地点限定“南宁”、讲话人限定“李四”", {"q": '"安全"'})]


def test_a_passage_page_bolds_the_sentence_its_result_bolded(client):
    # the results weigh each sentence's cosine to the question; the passage page weighed terms alone, and
    # bolded another sentence of the same passage
    question = "如何保障粮食安全？"
    for result in client.get("/api/search", query_string={"q": question, "k": 3}).get_json()["results"]:
        html = page(client.get(f"/passages/{result['passage_id']}", query_string={"q": question}))
        bold = re.search(r'<strong class="best">(.*?)</strong>', html, flags=re.S).group(1)
        assert re.sub(r"<[^>]+>", "", bold) == result["best_sentence"]["text"]


def headings(html: str) -> list[tuple[int, str]]:
    """(level, text without tags) of each heading of a page, in order."""
    return [(int(level), unescape(re.sub(r"<[^>]+>", "", text)).strip())
            for level, text in re.findall(r"<h([1-6])\b[^>]*>(.*?)</h\1>", html, flags=re.S)]


def test_the_search_results_and_error_pages_each_start_from_one_h1(client, searcher):
    assert headings(page(client.get("/"))) == [(1, "讲话素材问答")]
    assert headings(page(client.get("/", query_string={"q": "粮食", "k": "abc"}), 400)) == [(1, "检索有误")]
    question = "如何保障粮食安全？"
    html = page(client.get("/", query_string={"q": question, "k": 3}))
    hits = searcher.search(question, k=3)
    # each result's heading is its path: speech title, made-up title mark, sections, date and place
    assert [(level, text.split("〔")[0].split(" › ")[0]) for level, text in headings(html)] == [
        (1, f"检索：{question}"), (2, "检索结果")] + [(3, hit.passage.speech_title) for hit in hits]
    assert '<h2 class="visually-hidden">相近的段落</h2>' in page(client.get(f"/passages/{hits[0].passage.id}/similar"))


def test_the_passage_page_heads_its_own_passage_between_its_neighbours(client, searcher):
    passage = searcher.passages[10]
    html = page(client.get(f"/passages/{passage.id}"))
    assert [text.split(" · ")[0] for level, text in headings(html) if level == 2] == ["上一段", "本段", "下一段"]
    assert '<section class="current" id="p-' + passage.id + '" aria-labelledby="current-heading">' in html


def test_a_cart_link_says_what_it_did_on_the_page_it_leads_to(client, searcher):
    ids = [searcher.passages[i].id for i in (4, 1)]
    html = page(client.get("/", query_string={"q": "粮食安全", "k": 3}))
    add = unescape(re.search(r'<a class="cart-add" href="([^"]+)"', html).group(1))
    assert params_of(add)["cart_news"] == "added" and add.split("#")[1].startswith("r-")
    assert '<p class="visually-hidden" id="cart-news" role="status"></p>' in html, "no news without a cart link"

    def news(**params) -> str:
        shown = page(client.get("/", query_string={"q": "粮食安全", "k": 3} | params))
        return re.search(r'<p class="visually-hidden" id="cart-news" role="status">(.*?)</p>', shown).group(1)
    assert news(cart=",".join(ids), cart_news="added") == "已加入摘录（共 2 段）"
    assert news(cart=ids[0], cart_news="removed") == "已移出摘录（还有 1 段）"
    assert news(cart_news="removed") == "已移出摘录，摘录已空"
    assert news(cart_news="cleared") == "已清空摘录"
    assert news(cart=ids[0], cart_news="whatever") == ""

    carted = page(client.get("/", query_string={"q": "粮食安全", "k": 3, "cart": ",".join(ids), "cart_news": "added"}))
    cart = re.search(r'<aside class="cart".*?</aside>', carted, flags=re.S).group(0)
    # the list's removals come back to the list, each told from the others by its entry
    removals = re.findall(r'<a class="uncart" href="([^"]+)" aria-describedby="entry-([^"]+)">移出</a>', cart)
    assert [(params_of(href)["cart"], href.split("#")[1], entry) for href, entry in removals] == [
        (ids[1], "cart-list", ids[0]), (ids[0], "cart-list", ids[1])]
    assert '<details id="cart-list">' in cart
    clear = unescape(re.search(r'<a class="clear" href="([^"]+)">清空</a>', cart).group(1))
    assert params_of(clear) == {"q": "粮食安全", "k": "3", "cart_news": "cleared"}
    # the news is this page's own: a link away from it does not carry it on
    more = unescape(re.search(r'<a class="more" href="([^"]+)"', carted).group(1))
    assert "cart_news" not in params_of(more) and params_of(more)["cart"] == ",".join(ids)


def test_an_english_question_is_marked_english_where_the_page_shows_it(client):
    html = page(client.get("/", query_string={"q": "food security", "k": 2}))
    assert '<span class="query" lang="en">food security</span>' in html
    assert '<h1 class="visually-hidden">检索：<span lang="en">food security</span></h1>' in html
    assert '<span class="query">如何保障粮食安全？</span>' in page(client.get("/", query_string={"q": "如何保障粮食安全？"}))


def test_an_english_question_shows_the_chinese_words_it_was_looked_up_as(client, searcher):
    html = page(client.get("/", query_string={"q": "food security", "k": 2}))
    words = re.search(r'<p class="searched-as">英文问题按这些中文词查找 <span lang="en">\(searched as\)</span>：(.*?)</p>',
                      html).group(1)
    marked = [term for term in searcher.marked_terms("food security") if re.search(r"[\u4e00-\u9fff]", term)]
    assert words == "、".join(marked[:12]) + ("等" if len(marked) > 12 else "") and "粮食安全" in words
    assert "searched-as" not in page(client.get("/", query_string={"q": "粮食安全"}))


def test_the_question_box_has_a_label_that_stays_and_points_at_the_syntax_help(client):
    html = page(client.get("/"))
    assert '<label class="question" for="q">问题（中文或英文）</label>' in html
    box = re.search(r'<input type="search" name="q"[^>]*>', html).group(0)
    assert ' id="q" ' in box and 'aria-describedby="syntax-help"' in box and "aria-label" not in box
    assert '<p class="syntax-help" id="syntax-help">' in html


def test_each_passage_of_a_speech_links_its_context_by_a_name_that_tells_it_apart(client, searcher):
    speech = searcher.speeches[0]
    html = page(client.get(f"/speeches/{speech.id}"))
    names = re.findall(r'<a class="anchor" href="/passages/[^"]+" title="查看上下文">'
                       r'<span aria-hidden="true">¶</span><span class="visually-hidden">(.*?)</span></a>', html)
    assert names == [f"第 {n} 段的上下文" for n in range(1, speech.passages + 1)]


def test_a_year_or_month_filter_stays_in_the_form_for_the_next_search(client):
    html = page(client.get("/", query_string={"q": "安全", "from": "2021", "to": "2023-05-31"}))
    assert '<input type="text" name="from" value="2021">' in html
    assert '<input type="date" name="to" value="2023-05-31">' in html
    assert '<input type="date" name="from" value="">' in page(client.get("/", query_string={"q": "安全"}))


def test_a_library_past_the_menu_limit_pages_its_speeches_and_lists_only_the_chosen_one(client, searcher,
                                                                                        monkeypatch):
    from service import views

    monkeypatch.setattr(views, "SPEECH_MENU_LIMIT", 4)
    first = page(client.get("/speeches"))
    assert f"{len(searcher.speeches)} 篇（第 1–4 篇）" in first and 'rel="next"' in first
    assert searcher.speeches[4].title not in first
    second = page(client.get("/speeches", query_string={"offset": 4}))
    assert searcher.speeches[4].title in second and 'rel="prev"' in second
    past = page(client.get("/speeches", query_string={"offset": 100}))
    assert "（第 100 篇之后没有了）" in past and 'rel="prev"' in past
    # the search form's menu: all speeches, or only the chosen one and the way to the others
    chosen = searcher.speeches[5]
    form = page(client.get("/", query_string={"q": "粮食", "speech": chosen.id}))
    menu = form[form.index('<select name="speech"'):]
    menu = menu[:menu.index("</select>")]
    assert menu.count("<option") == 2, "全部讲话 and the chosen speech"
    assert f'<option value="{chosen.id}" selected>' in menu and "讲话太多，不逐篇列出" in form
    monkeypatch.setattr(views, "SPEECH_MENU_LIMIT", 300)
    assert "讲话太多" not in page(client.get("/"))
