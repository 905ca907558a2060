"""The server-rendered pages: search, results, passage context, speeches. No JavaScript needed."""
from __future__ import annotations

import time
from collections import Counter

from flask import Blueprint, make_response, render_template, request, url_for
from werkzeug.exceptions import HTTPException, NotFound

import service.highlight as hl
from index.errors import BadQuery, IndexUnavailable, QuerySyntaxError, SpeechQAError, UnknownId
from index.request import (DEFAULT_K, DEFAULT_MODE, DEFAULT_SORT, MAX_FILTER_CHARS, MAX_K, MAX_QUERY_CHARS, MODES,
                           NO_SUCH_DAY, SearchRequest, parse_request)
from index.filters import Filters
from index.query import parse_query
from index.search import named_speech_of, results_of
from service.api import annotate, export_response, marking, query_terms, quoted_wording
from service.export import EXPORT_FORMATS, MAX_EXPORT_PASSAGES, check_export_body, citation_text, quote_of
from service.state import LOAD_ERRORS, holder

bp = Blueprint("views", __name__)


@bp.app_context_processor
def _page_helpers() -> dict:
    """``url_here(**changes)``: this page's URL with some query parameters changed (the cart's links);
    ``link(endpoint, **values)``: ``url_for`` that keeps this page's cart, which lives in the URL, so
    going to a passage, a speech or back to the results does not lose it."""
    def url_here(**changes) -> str:
        args = request.args.to_dict() | changes
        return url_for(request.endpoint, **(request.view_args or {}), **{k: v for k, v in args.items() if v})

    def link(endpoint: str, **values) -> str:
        cart = request.args.get("cart", "").strip()
        return url_for(endpoint, **{k: v for k, v in values.items() if v is not None}, **({"cart": cart} if cart else {}))
    return {"url_here": url_here, "link": link}

SORT_LABELS = {"relevance": "相关度", "date": "时间（从早到晚）"}
# The form's filter inputs, named as the API's query parameters.
FILTER_FIELDS = ("group", "from", "to", "place", "speaker")
MODE_LABELS = {"hybrid": "混合（语义＋关键词）", "dense": "语义", "bm25": "关键词（BM25）"}
FORMAT_LABELS = {"markdown": "Markdown", "csv": "CSV（Excel）", "docx": "Word（DOCX）"}
# Confidence (the calibrated probability that a result answers, index/fusion.py) in a reader's words:
# likely from LIKELY on, related from the mode's answered threshold (so a page that answers never
# calls its first result weak), weak below it.
LIKELY = 0.7
CONFIDENCE_WORDS = ("很可能回答了问题", "可能相关", "相关性较弱")
# The export cart lives in the URL (?cart=id,id,…), so it needs no login and survives a shared link.
CART_SEPARATOR = ","
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


def error_page(status: int, code: str, message: str):
    """A friendly HTML page for an error (never a stack trace)."""
    hint = None
    if status == 503:
        hint = "在服务器上运行 `speechqa build` 建立索引，然后重启服务。"
    elif status == 500:
        message = "服务器内部错误，详细信息已写入服务器日志。"
    response = make_response(render_template(
        "error.html", status=status, title=TITLES.get(status, "出错了"), code=code, message=message, hint=hint,
        **_form_defaults()), status)
    return response


UNKNOWN_ID = {"passage": "没有这个段落（{id}）。", "speech": "没有这篇讲话（{id}）。"}


def page_message(exc: BaseException) -> str:
    """An error in a page reader's words: HTTP errors and unknown ids in Chinese, the rest as raised."""
    if isinstance(exc, HTTPException):
        return http_error_message(exc)
    if isinstance(exc, UnknownId):
        return UNKNOWN_ID[exc.kind].format(id=exc.id)
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
    searcher = holder().searcher
    speeches = searcher.speeches if searcher is not None else []
    titles = Counter(s.title for s in speeches)
    # a reprinted speech keeps its title in another compilation: the file tells the two apart
    return {"speech_options": [(s, s.title if titles[s.title] == 1 else f"{s.title}（{s.source}）") for s in speeches],
            "modes": MODES,
            "mode_labels": MODE_LABELS, "max_k": MAX_K, "max_chars": MAX_QUERY_CHARS, "form": {"q": "", "k": DEFAULT_K,
                                                                           "mode": DEFAULT_MODE, "speech": ""}
            | dict.fromkeys(FILTER_FIELDS, "") | {"sort": DEFAULT_SORT}, "sort_labels": SORT_LABELS}


def confidence_words(confidence: float | None, threshold: float) -> str | None:
    """A result's confidence as a reader says it, ``threshold`` the mode's for ``answered`` (None when
    the search gave none)."""
    if confidence is None:
        return None
    likely, related, weak = CONFIDENCE_WORDS
    return likely if confidence >= LIKELY else related if confidence >= min(threshold, LIKELY) else weak


def cart_ids() -> list[str]:
    """The passage ids in the URL's cart, in the order chosen, each once, at most an export's worth."""
    seen: dict[str, None] = {}
    for passage_id in request.args.get("cart", "").split(CART_SEPARATOR):
        if passage_id.strip():
            seen.setdefault(passage_id.strip(), None)
    return list(seen)[:MAX_EXPORT_PASSAGES]


def cart_value(ids: list[str]) -> str:
    """The ``cart`` parameter for these ids."""
    return CART_SEPARATOR.join(ids)


def _cart_context(searcher, ids: list[str]) -> dict:
    """What the cart panel and every result's add/remove link need."""
    items = []
    for passage_id in ids:
        try:
            items.append(searcher.passage(passage_id))
        except UnknownId:
            continue  # an id from an older build: dropped, and the panel says so, rather than fail the page
    kept = [p.id for p in items]
    return {"cart": items, "cart_dropped": len(ids) - len(kept), "cart_ids": kept, "cart_value": cart_value(kept),
            "format_labels": FORMAT_LABELS,
            "cart_with": lambda passage_id: cart_value(kept + [passage_id]),
            "cart_without": lambda passage_id: cart_value([i for i in kept if i != passage_id]),
            "cart_full": len(kept) >= MAX_EXPORT_PASSAGES}


def _present(searcher, results: list[dict], marks, threshold: float | None = None) -> list[dict]:
    """Add what a result card shows to each result: excerpt, whole passage, citation, confidence in words
    (``marks``: ``api.marking``'s terms for each; ``threshold``: the mode's for ``answered``, None where
    no result is an answer, as for a verbatim check)."""
    for result in results:
        terms, _ = marks(result)
        best = result["best_sentence"]
        found = searcher.passage(result["passage_id"])
        result["excerpt"] = hl.highlight_excerpt(result["text"], terms, best)
        result["whole"] = hl.excerpt_span(result["text"], best) == (0, len(result["text"]))
        result["html"] = hl.highlight_passage(result["text"], terms, best)
        result["citation"] = citation_text(quote_of(found, searcher.speech(found.speech_id)))
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
        return f"检索式有误：引号要成对，引号里要有字，title:/标题: 后要跟词（{exc}）。"
    if exc.field in ("from", "to"):
        which = "起始" if exc.field == "from" else "截止"
        if NO_SUCH_DAY in str(exc):
            return f"{which}日期没有这一天，请检查月份和日子。"
        return f"{which}日期要写成 2023-04-15 这样的格式，且起始日期不能晚于截止日期。"
    if exc.field in ("place", "speaker"):
        return f"{'地点' if exc.field == 'place' else '讲话人'}最多 {MAX_FILTER_CHARS} 个字。"
    if exc.field in ("group", "sort"):
        return "分组或排序的选项不对，请在表单中重新选择。"
    if exc.field == "q":
        if query.strip():
            return f"问题太长了：最多 {MAX_QUERY_CHARS} 个字符（现在是 {len(query.strip())} 个）。"
        return "请输入一个问题（中文或英文均可），例如：如何保障粮食安全？"
    if exc.field == "k":
        return f"结果数必须是 1 到 {MAX_K} 之间的整数。"
    if exc.field == "mode":
        return "检索方式只能是：" + "、".join(MODES) + "。"
    return str(exc)


def _check(searcher) -> SearchRequest:
    """The submitted form as a checked request; BadQuery carries the message in Chinese."""
    try:
        asked = parse_request(request.args)
        parse_query(asked.q)  # a syntax error is the form's to word, before any search runs
    except BadQuery as exc:
        raise BadQuery(_field_message(exc, request.args.get("q", "")), field=exc.field) from None
    if asked.speech is not None:
        try:
            searcher.speech(asked.speech)
        except UnknownId:
            raise BadQuery(f"没有这篇讲话（{asked.speech}），请在列表中重新选择。", field="speech") from None
    return asked


@bp.get("/")
def index():
    """The search page; with ``q`` it is also the (shareable) results page."""
    index_holder = holder()
    searcher = index_holder.searcher
    form = _form()
    context = _form_defaults() | {"form": form, "results": None, "message": None, "took_ms": None, "no_answer": None,
                                  "matched": None, "emptied_by": []}
    if "q" not in request.args:
        if searcher is None:
            return _unavailable(context, index_holder.error)
        return render_template("index.html", **context | _cart_context(searcher, cart_ids()))
    if searcher is None:
        return _unavailable(context, index_holder.error)
    started = time.perf_counter()
    try:
        asked = _check(searcher)
        answer = searcher.answer(asked.q, **asked.options)
    except BadQuery as exc:
        return render_template("index.html", **context | {"message": str(exc)}), 400
    query = asked.q
    hits = answer.hits
    named_speech = named_speech_of(searcher, answer)
    searched = {"relaxed": answer.phrases_relaxed, "named_speech": named_speech}
    results = annotate(searcher, query, results_of(searcher, hits), hits, **searched)
    context |= _cart_context(searcher, cart_ids())
    # a query of quoted wording and filters alone checks, it asks nothing: its count, no confidences
    context["matched"] = searcher.matched(asked.q, **asked.options)
    threshold = None if context["matched"] is not None else searcher.models[asked.mode].threshold
    context["results"] = _present(searcher, results, marking(searcher, query, **searched), threshold)
    context["query"] = query
    context["took_ms"] = (time.perf_counter() - started) * 1000
    context["answered"] = searcher.answered(hits, asked.mode)
    context["phrases_relaxed"] = answer.phrases_relaxed
    context["phrases_spread"] = answer.phrases_spread
    context["named_speech"] = named_speech
    context["no_answer"] = _suggestions(asked, found=bool(results), answered=context["answered"])
    context["emptied_by"] = [] if results else _emptied_by(searcher, asked)
    return render_template("index.html", **context)


def _suggestions(asked: SearchRequest, *, found: bool, answered: bool) -> list[tuple[str, str]] | None:
    """(what to try, a results URL that tries it) when no result answers: fewer words, a phrase, another
    mode; None when nothing needs saying.

    A query of phrases and filters alone asks no question: what it finds is exactly what holds its
    wording, however it ranks, and another mode finds nothing else. When it finds nothing, the
    phrases' words searched freely may.
    """
    parsed = parse_query(asked.q)
    if not parsed.text:
        if found:
            return None
        return [("去掉引号，按意思查找", url_for("views.index", q=parsed.unquoted, mode=asked.mode))] if parsed.phrases else []
    if found and answered:
        return None
    words = asked.q.split()
    suggestions = []
    if len(words) > 1:
        suggestions.append(("少用几个词", url_for("views.index", q=" ".join(words[:2]), mode=asked.mode)))
    if not parsed.phrases and len(asked.q) <= 20:
        suggestions.append(("按原文提法精确查找", url_for("views.index", q=f'"{asked.q}"', mode=asked.mode)))
    for mode in MODES:
        if mode != asked.mode:
            suggestions.append((f"改用“{MODE_LABELS[mode]}”方式", url_for("views.index", q=asked.q, mode=mode)))
    return suggestions


def _emptied_by(searcher, asked: SearchRequest) -> list[str]:
    """Why no result came, where a filter is the reason: one that no speech of the index passes
    (the library may name no dates, places or speakers at all), which other words would not help."""
    labels = {"place": "地点", "speaker": "讲话人"}
    notes = []
    for field, value in searcher.library.unmatched_filters(parse_query(asked.q), Filters.of(asked)):
        if field == "title":
            notes.append(f"没有标题含“{value}”的讲话。")
        elif field == "date":
            dated = any(info.date for info in searcher.speeches)
            notes.append("没有一篇讲话的日期在所选范围内。" if dated else "库里的讲话都没有标注日期，按日期筛选会排除全部讲话。")
        else:
            named = any(getattr(info, field) for info in searcher.speeches)
            notes.append(f"没有{labels[field]}含“{value}”的讲话。" if named
                         else f"库里的讲话都没有标注{labels[field]}，按{labels[field]}筛选会排除全部讲话。")
    return notes


def _unavailable(context: dict, error: SpeechQAError | None):
    status = 503
    message = str(error) if error is not None else "no index loaded — run `speechqa build`"
    code = error.code if isinstance(error, (*LOAD_ERRORS, IndexUnavailable)) else "index_unavailable"
    return error_page(status, code, message)


@bp.get("/passages/<passage_id>")
def passage(passage_id: str):
    """A passage with the one before and the one after it, for more context."""
    searcher = holder().require()
    found = searcher.passage(passage_id)
    previous_id, next_id = searcher.neighbours(passage_id)
    query = request.args.get("q", "").strip()[:MAX_QUERY_CHARS]
    terms = query_terms(searcher, query)
    best = hl.best_sentence(found.text, terms, verbatim=quoted_wording(query)) if terms else None
    return render_template(
        "passage.html", passage=found, html=hl.highlight_passage(found.text, terms, best),
        previous=searcher.passage(previous_id) if previous_id else None,
        next=searcher.passage(next_id) if next_id else None,
        speech=searcher.speech(found.speech_id), query=query, **_form_defaults() | _cart_context(searcher, cart_ids()))


@bp.get("/passages/<passage_id>/similar")
def similar(passage_id: str):
    """Passages of other speeches that make this passage's point, in other words."""
    searcher = holder().require()
    source = searcher.passage(passage_id)
    hits = searcher.similar(passage_id, DEFAULT_K)
    results = annotate(searcher, "", results_of(searcher, hits), hits)
    return render_template("similar.html", source=source, speech=searcher.speech(source.speech_id),
                           results=_present(searcher, results, marking(searcher, "")), query="",
                           **_form_defaults() | _cart_context(searcher, cart_ids()))


@bp.get("/export")
def export_cart():
    """The cart's passages as a file: the page's download links (the API's POST /api/export needs a script).

    A saved or shared link may name passages a later build no longer holds: they are left out, as
    the cart panel leaves them, and the export says how many (``X-SpeechQA-Dropped``); a cart left
    with none is a 400 saying so."""
    searcher = holder().require()
    kept = _cart_context(searcher, cart_ids())
    try:
        ids, format_name = check_export_body({"ids": kept["cart_ids"], "format": request.args.get("format")})
    except BadQuery:
        if kept["cart_dropped"] and not kept["cart_ids"]:
            raise BadQuery("摘录里的段落都已不在当前索引中（来源更新后重建了索引），请重新检索后加入。") from None
        raise BadQuery(f"摘录为空，或格式不对（只能是：{'、'.join(EXPORT_FORMATS)}）。") from None
    response = export_response(searcher, ids, format_name)
    response.headers[DROPPED_HEADER] = str(kept["cart_dropped"])
    return response


@bp.get("/speeches")
def speeches():
    """All speeches in the index."""
    searcher = holder().require()
    return render_template("speeches.html", speeches=searcher.speeches, **_form_defaults())


@bp.get("/speeches/<speech_id>")
def speech(speech_id: str):
    """A speech: its outline, then every passage with an anchor ``p-<passage id>``."""
    searcher = holder().require()
    info = searcher.speech(speech_id)
    passages = searcher.speech_passages(speech_id)
    first_of_section: dict[tuple[str, ...], str] = {}
    for p in passages:
        first_of_section.setdefault(p.section, p.id)
    outline = [(path, first_of_section.get(path)) for path in info.sections]
    query = request.args.get("q", "").strip()[:MAX_QUERY_CHARS]
    terms = query_terms(searcher, query)
    shown = [(p, section_openings(p, passages[i - 1].section if i else ()), hl.highlight(body_of(p), terms))
             for i, p in enumerate(passages)]
    return render_template("speech.html", speech=info, passages=shown, outline=outline, query=query,
                           **_form_defaults() | _cart_context(searcher, cart_ids()))


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
