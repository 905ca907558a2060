"""The server-rendered pages: search, results, passage context, speeches. No JavaScript needed."""
from __future__ import annotations

import re
import time
from collections import Counter
from dataclasses import dataclass, replace

from flask import Blueprint, g, make_response, render_template, request, url_for
from werkzeug.exceptions import HTTPException, NotFound

import service.highlight as hl
from index.bilingual import has_chinese
from index.errors import BadQuery, QuerySyntaxError, StoreLostIndex, StoreUnavailable, UnknownId
from index.lexical import meaningful_words
from index.query import CLOSING_QUOTE, MAX_QUERY_PARTS, ParsedQuery, parse_query
from index.records import Passage, SpeechInfo
from index.request import (DEFAULT_K, DEFAULT_MODE, DEFAULT_SORT, FIELDS, MAX_FILTER_CHARS, MAX_K, MAX_OFFSET,
                           MAX_QUERY_CHARS, MODES, NO_SUCH_DAY, SearchRequest, check_request, parse_listing, parse_request,
                           readable_query)
from index.search import named_speech_of, results_of
from index.related import offers_similar
from service.api import export_response
from service.explain import FILTER_LABELS, EmptyAnswer, is_past_end, past_end_note
from service.export import (EXPORT_FORMATS, MAX_EXPORT_PASSAGES, check_export_body, chinese_date, citation_text,
                            quote_of, shown_title)
from service.results import annotate, marking, query_terms, quoted_wording
from service.state import loaded, served

bp = Blueprint("views", __name__)
# the page writes dates as its citations and exports do: 2023年4月15日
bp.add_app_template_filter(chinese_date, "chinese_date")


@bp.app_context_processor
def _page_helpers() -> dict:
    """What every page's links need: ``cart``, this request's export cart (``current_cart``), the
    link builders ``link``, ``search_link`` (``search_url``) and ``url_here``, ``cart_news``, what
    the cart link that led here did, and ``offers_similar``, whether the served index finds similar
    passages (Milvus keeps no vectors in process: a 相似说法 link there could only fail)."""
    return {"cart": current_cart(), "link": link, "search_link": search_url, "url_here": url_here,
            "cart_news": cart_news(), "offers_similar": lambda: offers_similar(served().store)}


def link(endpoint: str, **values) -> str:
    """``url_for`` that keeps this page's cart, which lives in the URL, so going to a passage, a speech or
    back to the results does not lose it; an empty or None value leaves its parameter out."""
    values = values | {"cart": values.get("cart", current_cart().value)}
    return url_for(endpoint, **{name: value for name, value in values.items() if value not in (None, "")})


def search_url(endpoint: str = "views.index", **values) -> str:
    """``link`` that also keeps the search this page shows or came from (its ``q``, ``k``, mode, scope and
    filters), with ``values`` changed (None drops one): the results' links carry it to the passage and
    speech pages, so their way back, and every suggestion, asks the same search again."""
    searched = {name: request.args.get(name, "").strip() for name in FIELDS}
    if any(name in FIELDS for name in values) and "offset" not in values:
        searched["offset"] = ""  # another search starts at its first result (a page of one is no page of another)
    return link(endpoint, **searched | values)


def url_here(**changes) -> str:
    """This page's URL with some query parameters changed (the cart's add and remove links)."""
    args = {name: value for name, value in request.args.items() if name != "cart"} | changes
    return link(request.endpoint, **args | (request.view_args or {}))


SORT_LABELS = {"relevance": "相关度", "date": "时间（从早到晚）"}
# The form's filter inputs, named as the API's query parameters.
FILTER_FIELDS = ("group", "from", "to", "place", "speaker")
# The most speeches the search form lists in its menu (``_form_defaults``), and one page of /speeches.
SPEECH_MENU_LIMIT = 300
MODE_LABELS = {"hybrid": "混合（语义＋关键词）", "dense": "语义", "bm25": "关键词（BM25）"}
FORMAT_LABELS = {"markdown": "Markdown", "csv": "CSV（Excel）", "docx": "Word（DOCX）"}
# Confidence (the calibrated probability that a result answers, index/fusion.py) in a reader's words:
# likely from LIKELY on, related from the mode's answered threshold (so a page that answers never
# calls its first result weak), weak below it.
LIKELY = 0.7
CONFIDENCE_WORDS = ("很可能回答了问题", "可能相关", "相关性较弱")
# The export cart lives in the URL (?cart=id,id,…), so it needs no login and survives a shared link.
CART_SEPARATOR = ","
# A cart link says what it did (?cart_news=added), so the page it reloads can say so (role=status):
# the reload alone moved the reader and told a screen reader nothing.
CART_NEWS = "cart_news"
CART_NEWS_WORDS = {"added": "已加入摘录（共 {count} 段）", "removed": "已移出摘录（还有 {count} 段）",
                   "cleared": "已清空摘录"}
EMPTIED_WORDS = "已移出摘录，摘录已空"
# How many of an export link's passages a later build no longer holds, left out of the file.
DROPPED_HEADER = "X-SpeechQA-Dropped"

TITLES = {
    400: "请求有误",
    404: "没有找到",
    405: "不支持这种请求方式",
    413: "提交的内容太大",
    500: "服务器出错了",
    503: "索引尚未就绪",
}
STORE_AWAY = "索引存储暂时连不上"
# Milvus answers but holds no index (StoreLostIndex): waiting will not bring it back
STORE_LOST = "暂时不能检索：存放索引的 Milvus 连得上，但里面已经没有这个索引。"


def error_page(status: int, code: str, message: str):
    """A friendly HTML page for an error (never a stack trace)."""
    hint = None
    if status == 503 and message == STORE_LOST:
        hint = ("请联系管理员：让 Milvus 用存有索引的数据重新启动，或在服务器上重新发布索引"
                "（speechqa --store … build）；原因见 /healthz 和服务器日志。")
    elif status == 503 and code == StoreUnavailable.code:
        # Milvus away: a build would not help, and the search comes back by itself when it does
        message = "暂时不能检索：服务器连不上存放索引的 Milvus。"
        hint = "连上后检索会自动恢复，不需要重建索引；请稍后再试，或联系管理员（原因见 /healthz 和服务器日志）。"
    elif status == 503:
        # the reason names server paths and commands: /healthz and the log give it to whoever runs the service
        message = "暂时不能检索：服务器上还没有可用的索引。"
        hint = "请联系管理员：在服务器上运行 `speechqa build` 建立索引（原因见 /healthz 和服务器日志）。"
    elif status == 500:
        message = "服务器内部错误，详细信息已写入服务器日志。"
    response = make_response(render_template(
        "error.html", status=status, title=STORE_AWAY if code == StoreUnavailable.code else TITLES.get(status, "出错了"),
        code=code, message=message, hint=hint,
        **_form_defaults()), status)
    return response


UNKNOWN_ID = {"passage": "没有这个段落（{id}）。", "speech": "没有这篇讲话（{id}）。"}


def page_message(exc: BaseException) -> str:
    """An error in a page reader's words: HTTP errors and unknown ids in Chinese, the rest as raised."""
    if isinstance(exc, HTTPException):
        return http_error_message(exc)
    if isinstance(exc, UnknownId):
        return UNKNOWN_ID[exc.kind].format(id=exc.id)
    if isinstance(exc, StoreLostIndex):
        return STORE_LOST
    return str(exc)


def http_error_message(exc: HTTPException) -> str:
    """A page's one-line explanation of an HTTP error, in Chinese."""
    if exc.code == 404:
        custom = exc.description and exc.description != NotFound.description
        return exc.description if custom else f"没有这个页面（{request.path}）。"
    if exc.code == 405:
        return f"这个地址不接受 {request.method} 请求。"
    if exc.code == 413:
        return "提交的内容太大了。"
    if exc.code == 400:
        return "请求有误，请检查地址或重新检索。"
    return exc.name


def _form_defaults() -> dict:
    """What the search form needs on every page (speeches only when an index is loaded)."""
    searcher = loaded()
    speeches = searcher.speeches if searcher is not None else []
    titles = Counter(s.title for s in speeches)

    def label(speech: SpeechInfo) -> str:
        # a reprinted speech keeps its title in another compilation: the file tells the two apart
        shown = shown_title(speech.title, speech.title_inferred)
        return shown if titles[speech.title] == 1 else f"{shown}（{speech.source}）"
    # a library of thousands of speeches made every page's menu of them most of its bytes (686 KB at
    # 5,435): past SPEECH_MENU_LIMIT the menu holds the speech chosen, and a speech's own page searches it
    menu = speeches if len(speeches) <= SPEECH_MENU_LIMIT else [
        s for s in speeches if s.id == request.args.get("speech")]
    return {"speech_options": [(s, label(s)) for s in menu], "speech_menu_cut": len(menu) < len(speeches),
            "modes": MODES, "mode_labels": MODE_LABELS,
            "max_k": MAX_K, "max_cart": MAX_EXPORT_PASSAGES,
            "format_labels": FORMAT_LABELS, "sort_labels": SORT_LABELS,
            "form": {"q": "", "k": DEFAULT_K, "mode": DEFAULT_MODE, "speech": ""} | dict.fromkeys(FILTER_FIELDS, "")
            | {"sort": DEFAULT_SORT}}


def confidence_words(confidence: float | None, threshold: float) -> str | None:
    """A result's confidence as a reader says it, ``threshold`` the mode's for ``answered`` (None when
    the search gave none)."""
    if confidence is None:
        return None
    likely, related, weak = CONFIDENCE_WORDS
    return likely if confidence >= LIKELY else related if confidence >= min(threshold, LIKELY) else weak


@dataclass(frozen=True)
class Cart:
    """The export cart a page's URL names, in the order chosen, as the loaded index holds it.

    ``entries``: each passage with its speech; ``stale``: how many ids name passages the index no
    longer holds (a later build); ``overflow``: how many ids the URL names past an export's worth.
    While no index is loaded the ids cannot be checked and are kept as given.
    """

    ids: tuple[str, ...] = ()
    entries: tuple[tuple[Passage, SpeechInfo], ...] = ()
    stale: int = 0
    overflow: int = 0

    @property
    def value(self) -> str:
        """The ``cart`` parameter of these ids."""
        return CART_SEPARATOR.join(self.ids)

    @property
    def full(self) -> bool:
        """Whether the cart holds an export's worth, so no passage can be added."""
        return len(self.ids) >= MAX_EXPORT_PASSAGES

    def adding(self, passage_id: str) -> str:
        """The ``cart`` parameter with ``passage_id`` added last."""
        return CART_SEPARATOR.join([*self.ids, passage_id])

    def adding_all(self, passage_ids) -> str | None:
        """The ``cart`` parameter with those of ``passage_ids`` it lacks added last, as many as it has room
        for (a verbatim check's page of 27 took 27 clicks); None when it can take none of them."""
        room = MAX_EXPORT_PASSAGES - len(self.ids)
        new = [i for i in dict.fromkeys(passage_ids) if i not in self.ids][:max(0, room)]
        return CART_SEPARATOR.join([*self.ids, *new]) if new else None

    def removing(self, passage_id: str) -> str:
        """The ``cart`` parameter without ``passage_id``."""
        return CART_SEPARATOR.join(i for i in self.ids if i != passage_id)


def read_cart(value: str, searcher) -> Cart:
    """The cart a ``cart`` parameter names: each id once, those the index no longer holds left out (an id
    from an older build must not fail the page), then at most an export's worth."""
    ids = list(dict.fromkeys(part.strip() for part in value.split(CART_SEPARATOR) if part.strip()))
    entries = []
    stale = 0
    if searcher is not None:
        for passage_id in ids:
            try:
                found = searcher.passage(passage_id)
            except UnknownId:
                stale += 1
                continue
            entries.append((found, searcher.speech(found.speech_id)))
        ids = [found.id for found, _ in entries]
    return Cart(tuple(ids[:MAX_EXPORT_PASSAGES]), tuple(entries[:MAX_EXPORT_PASSAGES]), stale,
                max(0, len(ids) - MAX_EXPORT_PASSAGES))


def cart_news() -> str:
    """What the cart link that led to this page did, in the page's words; "" when none did."""
    news, count = request.args.get(CART_NEWS, ""), len(current_cart().ids)
    if news == "removed" and not count:
        return EMPTIED_WORDS
    return CART_NEWS_WORDS.get(news, "").format(count=count)


# Enough of a passage's opening to tell the cart's entries of one section apart.
CART_SNIPPET_CHARS = 40


@bp.app_template_filter("opening")
def passage_opening(passage: Passage) -> str:
    """The first words of a passage's body (its heading lines left out), as the cart's list shows it."""
    text = " ".join(body_of(passage).split())
    return text if len(text) <= CART_SNIPPET_CHARS else text[:CART_SNIPPET_CHARS] + "…"


def current_cart() -> Cart:
    """This request's cart, read once: every link of the page carries it as read, stale ids gone."""
    if "cart" not in g:
        g.cart = read_cart(request.args.get("cart", ""), loaded())
    return g.cart


def _present(searcher, results: list[dict], marks, threshold: float | None = None) -> list[dict]:
    """Add what a result card shows to each result: excerpt, whole passage, citation, confidence in words
    (``marks``: ``results.marking``'s terms for each; ``threshold``: the mode's for ``answered``, None where
    no result is an answer, as for a verbatim check)."""
    for result in results:
        terms, _ = marks(result)
        best = result["best_sentence"]
        found = searcher.passage(result["passage_id"])
        result["excerpt"] = hl.highlight_excerpt(result["text"], terms, best)
        result["whole"] = hl.excerpt_span(result["text"], best) == (0, len(result["text"]))
        result["html"] = hl.highlight_passage(result["text"], terms, best)
        quote = quote_of(found, searcher.speech(found.speech_id))
        result["citation"] = citation_text(quote)
        # a writer quotes one sentence more often than a 600-character passage: the bold one, with its source
        sentence = (best or {}).get("text", "").strip()
        result["sentence_citation"] = (citation_text(replace(quote, text=sentence))
                                       if sentence and sentence != result["text"].strip() else None)
        result["confidence_words"] = (None if threshold is None
                                      else confidence_words(result.get("confidence"), threshold))
    return results


def _form() -> dict:
    """The submitted form, echoed back as typed (the template escapes it)."""
    args = request.args
    return {"q": args.get("q", ""), "k": args.get("k", "") or DEFAULT_K, "mode": args.get("mode", "") or DEFAULT_MODE,
            "speech": args.get("speech", ""), **{name: args.get(name, "") for name in FILTER_FIELDS},
            "sort": args.get("sort", "") or DEFAULT_SORT}


def _field_message(exc: BadQuery, query: str) -> str:
    """The form's own wording of a parameter error (the API's English names the field already)."""
    if isinstance(exc, QuerySyntaxError):
        return syntax_error_message(exc, query)
    if exc.field in ("from", "to"):
        which = "起始" if exc.field == "from" else "截止"
        if NO_SUCH_DAY in str(exc):
            return f"{which}日期没有这一天，请检查月份和日子。"
        if _dates_out_of_order():
            return "起始日期晚于截止日期，请对调两个日期。"
        return f"{which}日期要写成 2023-04-15 这样的格式（或 2023-04、2023，指整月、整年）。"
    if exc.field in ("place", "speaker"):
        return f"{'地点' if exc.field == 'place' else '讲话人'}最多 {MAX_FILTER_CHARS} 个字。"
    if exc.field in ("group", "sort"):
        return "分组或排序的选项不对，请在表单中重新选择。"
    if exc.field == "q":
        if len(query) > MAX_QUERY_CHARS:
            return f"问题太长了：最多 {MAX_QUERY_CHARS} 个字符（现在是 {len(query)} 个）。"
        return "请输入一个问题（中文或英文均可），例如：如何保障粮食安全？"
    if exc.field == "k":
        return f"结果数必须是 1 到 {MAX_K} 之间的整数。"
    if exc.field == "offset":  # only links write it: a page of a verbatim check
        return (f"翻页只用于原文核查（只有引号里的原文和筛选条件），从第 0 到第 {MAX_OFFSET} 条起；"
                f"带词语的问题只列出最相关的前 {MAX_K} 条。")
    if exc.field == "mode":
        return f"检索方式只能是{'、'.join(f'“{MODE_LABELS[mode]}”' for mode in MODES)}，请在表单中重新选择。"
    return str(exc)


def _answer(searcher, asked: SearchRequest):
    """``Searcher.answer``, its refusals in the form's words (only the search knows that a page, an
    ``offset``, is of a question with words)."""
    try:
        return searcher.answer(asked.q, **asked.options)
    except BadQuery as exc:
        raise BadQuery(_field_message(exc, asked.q), field=exc.field) from None


def _dates_out_of_order() -> bool:
    """Whether the form's dates are each fine alone, so that what is wrong is that the first is the later."""
    try:  # a request needs a question; any will do to check a date alone
        check_request("?", date_from=request.args.get("from") or None)
        check_request("?", date_to=request.args.get("to") or None)
    except BadQuery:
        return False
    return True


def syntax_error_message(exc: QuerySyntaxError, query: str) -> str:
    """What is wrong with this query's syntax, and where, in the page's words (``query`` stripped, as parsed)."""
    at, part = exc.at, exc.part
    if exc.kind == "unclosed_quote" and exc.reversed_quotes:
        return (f"检索式有误：第 {at} 个字的引号 {part} 前面已有结束引号 {CLOSING_QUOTE[part]}，引号好像写反了。"
                f"请写成 {part}…{CLOSING_QUOTE[part]}。")
    if exc.kind == "unclosed_quote" and exc.both_opening:
        return (f"检索式有误：第 {at} 个字的引号 {part} 后面又是开始引号 {part}，没有结束引号 {CLOSING_QUOTE[part]}。"
                f"请写成 {part}…{CLOSING_QUOTE[part]}。")
    if exc.kind == "unclosed_quote":
        return (f"检索式有误：第 {at} 个字的引号 {part} 没有配对的结束引号（在{exc.shown}处）。"
                f"请在要原文查找的词后面补上 {CLOSING_QUOTE[part]}，或者删去这个引号。")
    if exc.kind == "empty_phrase":
        return f"检索式有误：第 {at} 个字起的 {part} 里没有要查找的字。请在引号里写上要原文查找的词，或者删去这对引号。"
    if exc.kind == "no_value":
        if query[at - 2:at - 1] == "-":
            return (f"检索式有误：第 {at - 1} 个字的 -{part} 后面没有词。"
                    f"请写上标题里不能有的词（例如 -{part}安全），或者删去它。")
        return f"检索式有误：第 {at} 个字的 {part} 后面没有词。请写上标题里要有的词（例如 {part}安全），或者删去它。"
    if exc.kind == "too_many_parts":
        return f"检索式有误：引号里的原文片段、排除词和标题条件共 {part} 个，最多 {MAX_QUERY_PARTS} 个。请删去一些。"
    return "检索式有误：请检查引号是否成对、title: 后面是否有词。"


def _check(searcher) -> SearchRequest:
    """The submitted form as a checked request; BadQuery carries the message in Chinese."""
    try:
        asked = parse_request(request.args)
        parse_query(asked.q)  # a syntax error is the form's to word, before any search runs
    except BadQuery as exc:
        # the question as it was checked: an error's counts and positions are in that text
        raise BadQuery(_field_message(exc, readable_query(request.args.get("q", "")).strip()),
                       field=exc.field) from None
    if asked.speech is not None:
        try:
            searcher.speech(asked.speech)
        except UnknownId:
            raise BadQuery(f"没有这篇讲话（{asked.speech}），请在列表中重新选择。", field="speech") from None
    return asked


@bp.get("/")
def index():
    """The search page; with ``q`` it is also the (shareable) results page."""
    searcher = served()
    context = _form_defaults() | {"form": _form(), "results": None, "message": None, "took_ms": None,
                                  "no_answer": None, "matched": None, "emptied_by": []}
    if "q" not in request.args:
        return render_template("index.html", **context)
    started = time.perf_counter()
    try:
        asked = _check(searcher)
        answer = _answer(searcher, asked)
    except BadQuery as exc:
        # the form marks the field at fault (``error_field``) and puts the cursor in it
        return render_template("index.html", **context | {"message": str(exc), "error_field": exc.field}), 400
    query = asked.q
    hits = answer.hits
    named_speech = named_speech_of(searcher, answer)
    searched = {"relaxed": answer.phrases_relaxed, "named_speech": named_speech}
    results = annotate(searcher, query, results_of(searcher, hits), hits, **searched)
    # a query of quoted wording and filters alone checks, it asks nothing: its count, no confidences
    context["matched"] = searcher.matched(asked.q, **asked.options)
    threshold = None if context["matched"] is not None else searcher.models[asked.mode].threshold
    context["results"] = _present(searcher, results, marking(searcher, query, **searched), threshold)
    context["query"] = query
    # a question without a hanzi is searched as English (index/bilingual.py): a screen reader reads it so too
    context["query_lang"] = None if has_chinese(query) or not re.search("[A-Za-z]", query) else "en"
    if context["query_lang"]:
        # what an English question was looked up as, which the marks in the results are: a reader of
        # little Chinese sees why a passage came (and a dictionary sense that led astray, capital → 资金)
        words = [term for term in searcher.marked_terms(query) if has_chinese(term)]
        context["searched_as"] = (words[:SEARCHED_AS_SHOWN], len(words) > SEARCHED_AS_SHOWN)
    context["took_ms"] = (time.perf_counter() - started) * 1000
    context["answered"] = searcher.answered(hits, asked.mode)
    context["phrases_relaxed"] = answer.phrases_relaxed
    context["phrases_spread"] = answer.phrases_spread
    context["phrases_held"] = answer.phrases_held
    context["named_speech"] = named_speech
    context["speakers_named"] = answer.speakers_named
    context["parts_listed"] = answer.parts_listed
    parsed = parse_query(asked.q)
    past_end = is_past_end(asked.offset, context["matched"], len(results))
    empty = None if results or past_end else EmptyAnswer.of(searcher, asked, parsed)
    # a page past the end has no reason to look for, nor wording to advise: its note says where the end is
    context["no_answer"] = None if past_end else _suggestions(
        asked, parsed, found=bool(results), answered=context["answered"],
        emptied=[] if empty is None else empty.filters, near=None if empty is None else empty.near_wording)
    context["emptied_by"] = [] if empty is None else empty.reasons()
    context["past_end"] = past_end_note(context["matched"], asked.offset) if past_end else None
    context["pages"] = _pages(context["matched"], asked.offset, asked.k, len(results))
    return render_template("index.html", **context)


def _pages(matched: int | None, offset: int, k: int, shown: int) -> dict | None:
    """Where a verbatim check's results are among all it matched, and the links to the pages beside it."""
    if not matched or not shown or (offset == 0 and shown >= matched):
        return None
    return {"first": offset + 1, "last": offset + shown,
            "previous": search_url(offset=str(offset - k) if offset > k else None) if offset else None,
            "next": search_url(offset=str(offset + k)) if offset + k < min(matched, MAX_OFFSET + 1) else None}


# What the no-answer box can only advise, not do: the wording is the reader's.
REWORD = "换个说法再问：用讲话材料里常见的提法，少用口语"
# Quoting a whole question finds nothing: only a short wording is offered as a 提法 to find verbatim.
MAX_EXACT_WORDING_CHARS = 20
# How many of an English question's Chinese words the page lists above its results.
SEARCHED_AS_SHOWN = 12
# A 提法 is words, spaces and the enumeration comma of its list items; anything else (？, emoji) says
# the text is a question or no wording at all.
_PLAIN_WORDING = re.compile(r"[\w、 ]+")


def _suggestions(asked: SearchRequest, parsed: ParsedQuery, *, found: bool, answered: bool,
                 emptied: list[tuple[str, str | None]],
                 near: tuple[str, int, str] | None = None) -> list[tuple[str, str | None]] | None:
    """(what to try, a results URL that tries it, or None for advice no link can follow) when no result
    answers; None when nothing needs saying. Every URL keeps the search's other parameters and the cart.

    A filter no speech passes (``emptied``, ``Library.unmatched_filters``) leaves every wording and
    mode as empty: the one way on is without it. A query of phrases and filters alone asks no
    question: what it finds is exactly what holds its wording, however it ranks, and another mode
    finds nothing else; when it finds nothing, the phrases as the library writes them (``near``:
    ``EmptyAnswer.near_wording``) or their words searched freely may. Another mode
    is offered only where the one asked found nothing: a single arm's confidence is calibrated less
    well than the hybrid's (its first result for an off-topic question read 很可能回答了问题), so a
    question it did not answer needs other words instead.
    """
    if emptied:
        return _without_filters(parsed, emptied)
    if not parsed.text:
        if found:
            return None
        if not parsed.phrases:
            return []
        # the phrases written as the library writes them (EmptyAnswer.near_wording), then their words freely
        respelled = [(f"改查 {near[0]}（{near[1]} 段）", search_url(q=near[0]))] if near else []
        return respelled + [("去掉引号，按意思查找",
                             search_url(q=replace(parsed, text=parsed.unquoted, phrases=()).written()))]
    if found and answered:
        return None
    suggestions: list[tuple[str, str | None]] = []
    fewer = fewer_words(parsed)
    if fewer is not None:
        suggestions.append((f"少用几个词：{fewer}", search_url(q=fewer)))
    if _is_plain_wording(parsed):
        suggestions.append(("按原文提法精确查找", search_url(q=f'"{parsed.text}"')))
    if not found and asked.mode != DEFAULT_MODE:
        suggestions.append((f"改用“{MODE_LABELS[DEFAULT_MODE]}”方式", search_url(mode=DEFAULT_MODE)))
    suggestions.append((REWORD, None))
    return suggestions


def _without_filters(parsed: ParsedQuery, emptied: list[tuple[str, str | None]]) -> list[tuple[str, str]]:
    """The search again without the filters that emptied it, when something is left to search."""
    dropped_titles = {value for field, value in emptied if field == "title"}
    rest = replace(parsed, titles=tuple(t for t in parsed.titles if t not in dropped_titles)).written()
    if not rest:
        return []
    names = [f"标题限定“{value}”" if field == "title" else "日期限定" if field == "date"
             else f"{FILTER_LABELS[field]}限定“{value}”" for field, value in emptied]
    params = {field: None for field, _ in emptied if field in FILTER_LABELS}
    if any(field == "date" for field, _ in emptied):
        params |= {"from": None, "to": None}
    return [(f"去掉{'、'.join(names)}", search_url(q=rest, **params))]


def fewer_words(parsed: ParsedQuery) -> str | None:
    """The query with only the meaningful words of its free text, phrases and filters kept; None when
    that leaves no word or changes nothing."""
    words = meaningful_words(parsed.text)
    fewer = replace(parsed, text=" ".join(words))
    return fewer.written() if words and fewer != parsed else None


def _is_plain_wording(parsed: ParsedQuery) -> bool:
    """Whether the query is a short Chinese wording with meaning, nothing else, which quotes make a 提法 to
    find (an English word quoted finds nothing in Chinese speeches, and that page offered the quotes away)."""
    return (not (parsed.phrases or parsed.excluded or parsed.titles or parsed.excluded_titles)
            and has_chinese(parsed.text)
            and len(parsed.text) <= MAX_EXACT_WORDING_CHARS and bool(_PLAIN_WORDING.fullmatch(parsed.text))
            and bool(meaningful_words(parsed.text)))


@bp.get("/passages/<passage_id>")
def passage(passage_id: str):
    """A passage with the one before and the one after it, for more context, and a result's tools."""
    searcher = served()
    found = searcher.passage(passage_id)
    speech = searcher.speech(found.speech_id)
    previous_id, next_id = searcher.neighbours(passage_id)
    query = request.args.get("q", "").strip()[:MAX_QUERY_CHARS]
    terms = query_terms(searcher, query)
    best = hl.best_sentence(found.text, terms, sentence_scores=searcher.sentence_scores_for(query, passage_id),
                            verbatim=quoted_wording(query)) if terms else None
    return render_template(
        "passage.html", passage=found, html=hl.highlight_passage(found.text, terms, best),
        previous=searcher.passage(previous_id) if previous_id else None,
        next=searcher.passage(next_id) if next_id else None, speech=speech, query=query,
        citation=citation_text(quote_of(found, speech)), **_form_defaults())


@bp.get("/passages/<passage_id>/similar")
def similar(passage_id: str):
    """Passages of other speeches that make this passage's point, in other words."""
    searcher = served()
    source = searcher.passage(passage_id)
    hits = searcher.similar(passage_id, DEFAULT_K)
    results = annotate(searcher, "", results_of(searcher, hits), hits)
    return render_template("similar.html", source=source, speech=searcher.speech(source.speech_id),
                           results=_present(searcher, results, marking(searcher, "")), query="",
                           **_form_defaults())


@bp.get("/export")
def export_cart():
    """The cart's passages as a file: the page's download links (the API's POST /api/export needs a script).

    A saved or shared link may name passages a later build no longer holds, or more than an export
    holds: they are left out, as the cart panel leaves them, and the export says how many
    (``X-SpeechQA-Dropped``); a cart left with none is a 400 saying so."""
    searcher = served()
    cart = current_cart()
    try:
        ids, format_name = check_export_body({"ids": list(cart.ids), "format": request.args.get("format")})
    except BadQuery:
        if cart.stale and not cart.ids:
            raise BadQuery("摘录里的段落都已不在当前索引中（来源文件改动、改名或移走后重建了索引），请重新检索后加入。") from None
        raise BadQuery(f"摘录为空，或格式不对（只能是：{'、'.join(EXPORT_FORMATS)}）。") from None
    response = export_response(searcher, ids, format_name)
    response.headers[DROPPED_HEADER] = str(cart.stale + cart.overflow)
    return response


@bp.get("/speeches")
def speeches():
    """The speeches in the index, ``SPEECH_MENU_LIMIT`` a page from ``offset``."""
    searcher = served()
    offset, _ = parse_listing(request.args.get("offset"), None)
    return render_template("speeches.html", speeches=searcher.speeches[offset:offset + SPEECH_MENU_LIMIT],
                           total=len(searcher.speeches), offset=offset, per_page=SPEECH_MENU_LIMIT,
                           **_form_defaults())


@bp.get("/speeches/<speech_id>")
def speech(speech_id: str):
    """A speech: its outline, then every passage with an anchor ``p-<passage id>``."""
    searcher = served()
    info = searcher.speech(speech_id)
    passages = searcher.speech_passages(speech_id)
    first_of_section: dict[tuple[str, ...], str] = {}
    for p in passages:
        first_of_section.setdefault(p.section, p.id)
    # the speech's untitled lead-in (the path ()) is no part a reader can find in the outline
    outline = [(path, first_of_section.get(path)) for path in info.sections if path]
    query = request.args.get("q", "").strip()[:MAX_QUERY_CHARS]
    terms = query_terms(searcher, query)
    shown = [(p, section_openings(p, passages[i - 1].section if i else ()), hl.highlight(body_of(p), terms))
             for i, p in enumerate(passages)]
    return render_template("speech.html", speech=info, passages=shown, outline=outline, query=query,
                           **_form_defaults())


def section_openings(passage, previous: tuple[str, ...]) -> list[tuple[int, str]]:
    """(depth, heading) of each section this passage opens, outermost first: the speech page's headings."""
    shared = 0
    while shared < min(len(previous), len(passage.section)) and previous[shared] == passage.section[shared]:
        shared += 1
    return [(depth, passage.section[depth - 1]) for depth in range(shared + 1, len(passage.section) + 1)]


def body_of(passage) -> str:
    """The passage's text without the opening lines that are only its headings (the page shows those as headings)."""
    headings = {heading.rstrip("。.：:") for heading in passage.section}
    text = passage.text
    while True:
        first, newline, rest = text.partition("\n")
        if not (newline and first.strip().rstrip("。.：:") in headings):
            return text
        text = rest
