"""The server-rendered pages: search, results, passage context, speeches. No JavaScript needed."""
from __future__ import annotations

import time

from flask import Blueprint, make_response, render_template, request
from werkzeug.exceptions import HTTPException, NotFound

import service.highlight as hl
from index.errors import BadQuery, IndexUnavailable, QuerySyntaxError, SpeechQAError, UnknownId
from index.request import (DEFAULT_K, DEFAULT_MODE, DEFAULT_SORT, MAX_FILTER_CHARS, MAX_K, MAX_QUERY_CHARS, MODES,
                           SearchRequest, parse_request)
from index.query import parse_query
from index.search import hit_to_dict
from service.api import annotate, query_terms
from service.state import LOAD_ERRORS, holder

bp = Blueprint("views", __name__)

SORT_LABELS = {"relevance": "相关度", "date": "时间（从早到晚）"}
# The form's filter inputs, named as the API's query parameters.
FILTER_FIELDS = ("group", "from", "to", "place", "speaker")
MODE_LABELS = {"hybrid": "混合（语义＋关键词）", "dense": "语义", "bm25": "关键词（BM25）"}

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
    return {"speech_options": searcher.speeches if searcher is not None else [], "modes": MODES,
            "mode_labels": MODE_LABELS, "max_k": MAX_K, "max_chars": MAX_QUERY_CHARS, "form": {"q": "", "k": DEFAULT_K,
                                                                           "mode": DEFAULT_MODE, "speech": ""}
            | dict.fromkeys(FILTER_FIELDS, "") | {"sort": DEFAULT_SORT}, "sort_labels": SORT_LABELS}


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
        return f"{'起始' if exc.field == 'from' else '截止'}日期要写成 2023-04-15 这样的格式，且起始日期不能晚于截止日期。"
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
    context = _form_defaults() | {"form": form, "results": None, "message": None, "took_ms": None}
    if "q" not in request.args:
        if searcher is None:
            return _unavailable(context, index_holder.error)
        return render_template("index.html", **context)
    if searcher is None:
        return _unavailable(context, index_holder.error)
    started = time.perf_counter()
    try:
        asked = _check(searcher)
        hits = searcher.search(asked.q, **asked.options)
    except BadQuery as exc:
        return render_template("index.html", **context | {"message": str(exc)}), 400
    query = asked.q
    results = annotate(query, [hit_to_dict(h, searcher.speech(h.passage.speech_id)) for h in hits])
    terms = query_terms(query)
    for result in results:
        result["html"] = hl.highlight_passage(result["text"], terms, result["best_sentence"])
    context["results"] = results
    context["query"] = query
    context["took_ms"] = (time.perf_counter() - started) * 1000
    if not results:
        context["message"] = "没有找到相关段落。换一种说法，或改用“语义”检索试试。"
    return render_template("index.html", **context)


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
    terms = query_terms(query) if query else []
    best = hl.best_sentence(found.text, terms) if terms else None
    return render_template(
        "passage.html", passage=found, html=hl.highlight_passage(found.text, terms, best),
        previous=searcher.passage(previous_id) if previous_id else None,
        next=searcher.passage(next_id) if next_id else None,
        speech=searcher.speech(found.speech_id), query=query, **_form_defaults())


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
    return render_template("speech.html", speech=info, passages=passages, outline=outline, **_form_defaults())
