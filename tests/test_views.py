"""The server-rendered pages over the real seed index: form, results, context, speeches, errors, escaping."""
from __future__ import annotations

import csv
import io
import re
from urllib.parse import quote

import pytest

from index.request import MAX_K, MAX_QUERY_CHARS
from service import create_app
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
    assert f'href="/passages/{hit.passage.id}?q={quote(question)}"' in first
    assert f'href="/speeches/{hit.passage.speech_id}?q={quote(question)}#p-{hit.passage.id}"' in first
    assert f'value="{question}"' in html, "the query stays in the box"
    assert [re.search(r'href="/passages/([^"?]+)', r).group(1) for r in results] == [h.passage.id for h in hits]


def test_a_question_that_names_a_speech_says_which_and_what_it_looked_for_there(client, searcher):
    question = "讲壮乡首府安全屏障的那篇，维护政治安全这块说了什么"
    answer = searcher.answer(question, k=5)
    html = page(client.get("/", query_string={"q": question, "k": 5}))
    title = searcher.speech(answer.named_speech).title
    link = f'<a href="/speeches/{answer.named_speech}?q={quote("维护政治安全这块说了什么")}">{title}</a>'
    assert f"问题指向《{link}》：前几条是这篇讲话里关于“维护政治安全这块说了什么”的段落。" in html
    assert [re.search(r'href="/passages/([^"?]+)', r).group(1) for r in results_of(html)] == [
        h.passage.id for h in answer.hits]
    assert "问题指向" not in page(client.get("/", query_string={"q": "如何保障粮食安全？"}))


@pytest.mark.parametrize("mode", ["hybrid", "dense", "bm25"])
def test_results_page_respects_mode_k_and_speech(client, searcher, mode):
    speech = searcher.speeches[0]
    html = page(client.get("/", query_string={"q": "安全", "k": 2, "mode": mode, "speech": speech.id}))
    results = results_of(html)
    assert len(results) == 2
    assert all(f'href="/speeches/{speech.id}?q=%E5%AE%89%E5%85%A8#p-' in r for r in results)
    assert f'<option value="{mode}" selected>' in html
    assert f'<option value="{speech.id}" selected>' in html


def test_no_results_is_a_friendly_200(client):
    html = page(client.get("/", query_string={"q": "zzqqxxyy", "mode": "bm25"}))
    assert results_of(html) == []
    assert "没有找到相关段落" in html


@pytest.mark.parametrize(("params", "message"), [
    ({"q": ""}, "请输入一个问题"),
    ({"q": "   "}, "请输入一个问题"),
    ({"q": "粮" * (MAX_QUERY_CHARS + 1)}, f"问题太长了：最多 {MAX_QUERY_CHARS} 个字符（现在是 501 个）。"),
    ({"q": "粮食", "k": "abc"}, f"结果数必须是 1 到 {MAX_K} 之间的整数。"),
    ({"q": "粮食", "k": "0"}, f"结果数必须是 1 到 {MAX_K} 之间的整数。"),
    ({"q": "粮食", "k": "51"}, f"结果数必须是 1 到 {MAX_K} 之间的整数。"),
    ({"q": "粮食", "mode": "sparse"}, "检索方式只能是：hybrid、dense、bm25。"),
    ({"q": "粮食", "speech": "nope"}, "没有这篇讲话（nope），请在列表中重新选择。"),
    ({"q": "粮食", "from": "2023/4/15"}, "起始日期要写成 2023-04-15 这样的格式，且起始日期不能晚于截止日期。"),
    ({"q": "粮食", "to": "2023-02-29"}, "截止日期没有这一天，请检查月份和日子。"),
])
def test_bad_parameters_give_a_friendly_400(client, params, message):
    html = page(client.get("/", query_string=params), 400)
    assert f'<p class="notice error" role="alert">{message}' in html
    assert '<form class="search"' in html, "the form is still there to fix the question"


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


def test_wrong_method_is_a_friendly_405(client):
    html = page(client.post("/"), 405)
    assert "不支持这种请求方式" in html


@pytest.mark.parametrize("path", ["/", "/?q=粮食", "/speeches", "/speeches/x", "/passages/x"])
def test_without_an_index_pages_say_what_to_run(tmp_path, path):
    client = create_app({"TESTING": True, "INDEX": str(tmp_path / "nothing"), "RELOAD_INTERVAL": 0}).test_client()
    html = page(client.get(path), 503)
    assert "索引尚未就绪" in html and "speechqa build" in html


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


def test_a_result_shows_its_excerpt_first_and_the_whole_passage_in_place(client, searcher):
    question = "如何保障粮食安全？"
    html = page(client.get("/", query_string={"q": question, "k": 3}))
    first = results_of(html)[0]
    hit = searcher.search(question, k=1)[0]
    excerpt = re.search(r'<p class="text excerpt">(.*?)</p>', first, flags=re.S).group(1)
    assert excerpt.startswith("…") or excerpt.startswith("<strong")
    assert excerpt.count('<strong class="best">') == 1
    assert '<details class="whole">\n    <summary>展开全段</summary>' in first
    whole = re.search(r'<details class="whole">.*?<p class="text">(.*?)</p>', first, flags=re.S).group(1)
    assert re.sub(r"<[^>]+>", "", whole) == hit.passage.text
    assert re.search(r'<meter min="0" max="1" value="0\.\d\d"></meter> (很可能回答了问题|可能相关|相关性较弱)', first)
    assert f'<a class="similar" href="/passages/{hit.passage.id}/similar">相似说法</a>' in first


def test_the_citation_box_and_the_copy_button_that_a_script_reveals(client, searcher):
    html = page(client.get("/", query_string={"q": "如何保障粮食安全？", "k": 1}))
    passage = searcher.search("如何保障粮食安全？", k=1)[0].passage
    box = re.search(r'<textarea class="citation" readonly rows="5" aria-label="[^"]+">(.*?)</textarea>', html,
                    flags=re.S).group(1)
    assert box.startswith(passage.text.replace('"', "&#34;")[:20])
    # the grain answer is in the seeds' untitled speech, cited by its file
    assert box.endswith(f"（摘自无标题讲话〔{passage.source}〕，{' › '.join(passage.section)}）")
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
    assert re.findall(r"<li>(.*?)(?:<span| <a)", cart) == [searcher.passages[i].speech_title for i in (4, 1, 9)]
    for name in ("markdown", "csv", "docx"):
        assert f'href="/export?cart={",".join(ids)}&amp;format={name}" download>' in cart
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


def test_no_answer_suggests_fewer_words_a_phrase_and_another_mode(client):
    html = page(client.get("/", query_string={"q": "zzqqxxyy", "mode": "bm25"}))
    block = re.search(r'<div class="notice no-answer" role="status">(.*?)</div>', html, flags=re.S).group(1)
    assert re.findall(r'<li><a href="([^"]+)">([^<]+)</a></li>', block) == [
        ("/?q=%22zzqqxxyy%22&amp;mode=bm25", "按原文提法精确查找"),
        ("/?q=zzqqxxyy&amp;mode=hybrid", "改用“混合（语义＋关键词）”方式"),
        ("/?q=zzqqxxyy&amp;mode=dense", "改用“语义”方式"),
    ]


def test_phrases_and_filters_alone_ask_nothing_a_mode_could_answer_better(client):
    def notice(query):
        found = re.search(r'<div class="notice no-answer" role="status">(.*?)</div>', page(client.get("/", query_string={
            "q": query})), flags=re.S)
        return found and (re.sub(r"<[^>]+>", "", found.group(1).split("</p>")[0]).strip(),
                          re.findall(r'<li><a href="([^"]+)">([^<]+)</a></li>', found.group(1)))

    # what holds the wording is the answer, however it ranks
    assert notice('"保交楼"') is None and notice("标题：晋中") is None and notice("-粮食") is None
    # wording no passage holds: its words searched freely may find it, another mode cannot
    assert notice('"上海交通大学"') == ("没有找到相关段落。可以试试：",
                                    [("/?q=%E4%B8%8A%E6%B5%B7%E4%BA%A4%E9%80%9A%E5%A4%A7%E5%AD%A6&amp;mode=hybrid",
                                      "去掉引号，按意思查找")])
    assert notice("标题：不存在的标题") == ("没有找到相关段落。没有标题含“不存在的标题”的讲话。", [])


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
    assert f"（摘自无标题讲话〔{untitled.source}〕" in citation and f"《{untitled.title}》" not in citation
    titled = next(s for s in searcher.speeches if not s.title_inferred)
    assert "〔拟题〕" not in page(client.get(f"/speeches/{titled.id}"))


def test_the_page_marks_what_a_relaxed_question_was_ranked_by(client):
    html = page(client.get("/", query_string={"q": 'What is the "lake revolution" campaign?', "k": 3}))
    assert "<mark>湖泊革命</mark>" in results_of(html)[0]


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
    assert "共 5 条结果" in asked and 'class="confidence"' in asked


def test_an_export_link_with_an_id_of_an_older_build_exports_the_rest(client, searcher):
    ids = [searcher.passages[2].id, searcher.passages[5].id]
    with client.get("/export", query_string={"cart": f"gone,{','.join(ids)}", "format": "csv"}) as response:
        assert response.status_code == 200 and response.headers["X-SpeechQA-Dropped"] == "1"
        rows = list(csv.reader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))
        assert [row[1] for row in rows[1:]] == ids
    assert "都已不在当前索引中" in page(client.get("/export", query_string={"cart": "gone", "format": "csv"}), 400)


def test_the_cart_follows_to_the_passage_and_speech_pages_and_back(client, searcher):
    ids = ",".join(p.id for p in searcher.passages[:2])
    results = page(client.get("/", query_string={"q": "粮食安全", "k": 3, "cart": ids}))
    first = searcher.search("粮食安全", k=1)[0].passage
    assert f'href="/passages/{first.id}?q={quote("粮食安全")}&amp;cart={ids}"' in results
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
