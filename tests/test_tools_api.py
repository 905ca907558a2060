"""The speechwriter endpoints over the real seed index: citation, similar passages, export — exact shapes."""
from __future__ import annotations

import io
import json

import pytest
from docx import Document

from service.export import (MAX_EXPORT_PASSAGES, export_csv, export_markdown, quote_of, citation_markdown,
                            citation_text)

from .conftest import one_file_searcher


def quotes(searcher, ids):
    return [quote_of(searcher.passage(i), searcher.speech(searcher.passage(i).speech_id)) for i in ids]


def error_of(response, status: int) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)[:300]
    body = response.get_json()
    assert list(body) == ["error"] and list(body["error"])[:2] == ["code", "message"]
    return body["error"]


def test_citation_is_the_passage_and_its_source_line(client, searcher):
    passage = searcher.passages[3]
    response = client.get(f"/api/passages/{passage.id}/citation")
    assert response.status_code == 200
    body = response.get_json()
    [quote] = quotes(searcher, [passage.id])
    assert body == {"passage_id": passage.id, "citation": citation_text(quote), "markdown": citation_markdown(quote)}
    assert body["citation"].startswith(passage.text + "\n（摘自《" + passage.speech_title + "》")


def test_citation_and_similar_of_an_unknown_passage_are_404(client):
    assert error_of(client.get("/api/passages/nope/citation"), 404) == {
        "code": "not_found", "message": "no passage with id \"nope\""}
    assert error_of(client.get("/api/passages/nope/similar"), 404)["code"] == "not_found"


def test_similar_has_the_search_results_shape(client, searcher):
    source = searcher.passages[10]
    response = client.get(f"/api/passages/{source.id}/similar", query_string={"k": 3})
    assert response.status_code == 200
    body = response.get_json()
    assert list(body) == ["passage_id", "took_ms", "results"] and body["passage_id"] == source.id
    search = client.get("/api/search", query_string={"q": "粮食安全", "k": 1}).get_json()
    assert [sorted(r) for r in body["results"]] == [sorted(search["results"][0])] * 3
    assert [r["passage_id"] for r in body["results"]] == [h.passage.id for h in searcher.similar(source.id, 3)]
    assert source.speech_id not in {r["speech"]["id"] for r in body["results"]}
    assert [r["rank"] for r in body["results"]] == [1, 2, 3]
    for result in body["results"]:
        best = result["best_sentence"]
        assert result["text"][best["start"]:best["end"]] == best["text"]


@pytest.mark.parametrize("k", ["0", "51", "x"])
def test_similar_refuses_a_bad_k(client, searcher, k):
    error = error_of(client.get(f"/api/passages/{searcher.passages[0].id}/similar", query_string={"k": k}), 400)
    assert error["code"] == "bad_query" and error["message"].startswith("k must be an integer between 1 and 50")


def test_export_markdown_keeps_the_order_chosen(client, searcher):
    ids = [searcher.passages[i].id for i in (7, 2, 30)]
    response = client.post("/api/export", json={"ids": ids, "format": "markdown"})
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/markdown; charset=utf-8"
    assert response.headers["Content-Disposition"] == 'attachment; filename="speechqa-export.md"'
    assert response.get_data() == export_markdown(quotes(searcher, ids)).encode("utf-8")


def test_export_csv_and_docx(client, searcher):
    ids = [searcher.passages[i].id for i in (5, 6, 1)]
    csv_response = client.post("/api/export", json={"ids": ids, "format": "csv"})
    assert csv_response.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert csv_response.headers["Content-Disposition"] == 'attachment; filename="speechqa-export.csv"'
    assert csv_response.get_data() == export_csv(quotes(searcher, ids))
    docx_response = client.post("/api/export", json={"ids": ids, "format": "docx"})
    assert docx_response.headers["Content-Type"] == (
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document")
    document = Document(io.BytesIO(docx_response.get_data()))
    headings = [p.text for p in document.paragraphs if p.style.name == "Heading 1"]
    expected = [f"{n}. {searcher.passage(i).speech_title}" + (f" · {searcher.passage(i).section[-1]}"
                                                            if searcher.passage(i).section else "")
                for n, i in enumerate(ids, start=1)]
    assert headings == expected


@pytest.mark.parametrize("typed", ["DOCX", "Markdown", "Csv"])
def test_export_takes_a_format_name_in_any_case(client, searcher, typed):
    ids = [searcher.passages[i].id for i in (5, 6, 1)]
    as_typed = client.post("/api/export", json={"ids": ids, "format": typed})
    as_listed = client.post("/api/export", json={"ids": ids, "format": typed.lower()})
    assert as_typed.status_code == 200
    assert as_typed.headers["Content-Type"] == as_listed.headers["Content-Type"]
    assert as_typed.headers["Content-Disposition"] == as_listed.headers["Content-Disposition"]

    def read(response):
        if typed == "DOCX":  # a Word file records when it was written: two are alike in their text
            return [p.text for p in Document(io.BytesIO(response.get_data())).paragraphs]
        return response.get_data()

    assert read(as_typed) == read(as_listed)


@pytest.mark.parametrize(("body", "message"), [
    ({"ids": ["x"], "format": "pdf"}, "format must be one of markdown, csv, docx (got \"pdf\")"),
    ({"ids": ["x"]}, "format must be one of markdown, csv, docx (got null)"),
    ({"ids": ["x"], "format": {}}, "format must be one of markdown, csv, docx (got {})"),
    ({"ids": ["x"], "format": ["csv"]}, "format must be one of markdown, csv, docx (got [\"csv\"])"),
    ({"ids": ["x"], "format": "DOC"}, "format must be one of markdown, csv, docx (got \"DOC\")"),  # as given
    ({"ids": [], "format": "csv"}, "ids must be a non-empty list of passage ids, in the order to export"),
    ({"ids": "abc", "format": "csv"}, "ids must be a non-empty list of passage ids, in the order to export"),
    ({"ids": ["a"] * (MAX_EXPORT_PASSAGES + 1), "format": "csv"},
     f"ids may list at most {MAX_EXPORT_PASSAGES} passages (got {MAX_EXPORT_PASSAGES + 1})"),
    ({"ids": [1], "format": "csv"}, "each id must be a passage id (a string of 1 to 100 characters)"),
    ({"ids": ["a"], "format": "csv", "q": "x"}, "unknown field \"q\" — allowed: ids, format"),
])
def test_export_refuses_bad_bodies(client, body, message):
    assert error_of(client.post("/api/export", json=body), 400) == {"code": "bad_query", "message": message}


def test_an_export_naming_passages_the_index_lacks_lists_every_one_of_them(client, searcher):
    known = searcher.passages[0].id
    response = client.post("/api/export", json={"ids": ["gone1", known, "gone2"], "format": "csv"})
    error = error_of(response, 404)
    assert error["missing_ids"] == ["gone1", "gone2"]
    assert error["message"].startswith("no passage with id \"gone1\", \"gone2\" (2 of the 3 ids;")
    # a passage asked for alone is a plain 404, as before
    assert list(error_of(client.get("/api/passages/gone1"), 404)) == ["code", "message"]


def test_an_export_without_a_body_is_shown_an_export_body_not_a_search(client):
    response = client.post("/api/export", data=b"", content_type="application/json")
    assert error_of(response, 400) == {"code": "bad_request", "message": 'request body must be a JSON object such as '
                                                                         '{"ids": ["<passage_id>", …], "format": "csv"}'}


# Word's non-breaking hyphen (\x1e), optional hyphen (\x1f) and line break (\x0b) and a stray \x01, as a
# .txt saved from Word keeps them: three control characters, which a file of 300 characters may hold.
CONTROL_SPEECH = ("控制字符测试讲话\n一、保障粮食安全\n要落实粮食安全党政同责\x1e年度考核，严守耕地\x1f保护红线，稳定\x01粮食播种面积。"
                  + "加快建设现代化粮食仓储设施，完善地方储备轮换机制，确保关键时刻调得出、用得上。" * 4
                  + "\n二、边境安全\n完善边境立体化防控体系\x0b坚决守住国门安全。" + "深入推进边境管控，强化边境治理。" * 4 + "\n")


@pytest.fixture(scope="module")
def control_client(tmp_path_factory, encoder):
    """A Flask test client over a real index of CONTROL_SPEECH, and the ids of its passages in order."""
    from service import create_app

    searcher = one_file_searcher(tmp_path_factory, encoder, "control.txt", CONTROL_SPEECH)
    return create_app({"TESTING": True}, searcher=searcher).test_client(), [p.id for p in searcher.passages]


def test_docx_export_of_passages_with_control_characters(control_client):
    client, ids = control_client
    posted = client.post("/api/export", json={"ids": ids, "format": "docx"})
    with client.get("/export", query_string={"cart": ",".join(ids), "format": "docx"}) as cart:
        for response in (posted, cart):
            assert response.status_code == 200, response.get_data(as_text=True)[:300]
            document = Document(io.BytesIO(response.get_data()))
            assert [p.text for p in document.paragraphs if p.style.name == "Normal"][:5] == [
                "一、保障粮食安全",
                "要落实粮食安全党政同责\u2011年度考核，严守耕地保护红线，稳定粮食播种面积。"
                + "加快建设现代化粮食仓储设施，完善地方储备轮换机制，确保关键时刻调得出、用得上。" * 4,
                "（摘自《控制字符测试讲话》，一、保障粮食安全）",
                "二、边境安全",
                "完善边境立体化防控体系",
            ]
    # the other formats keep the passage exactly as in the source
    assert CONTROL_SPEECH.split("\n")[2] in client.post("/api/export", json={"ids": ids, "format": "csv"}).get_data(
        as_text=True)


def test_export_of_an_unknown_id_is_404_and_a_huge_body_413(client, searcher):
    ids = [searcher.passages[0].id, "nope"]
    assert error_of(client.post("/api/export", json={"ids": ids, "format": "csv"}), 404) == {
        "code": "not_found", "message": "no passage with id \"nope\" (1 of the 2 ids; a rebuild since they were found "
                                        "drops a passage whose text or file name changed) — export the others, or search for "
                                        "them again", "missing_ids": ["nope"]}
    huge = json.dumps({"ids": ["x" * 100] * 200, "format": "csv"})
    assert error_of(client.post("/api/export", data=huge, content_type="application/json"), 413)["code"] == (
        "payload_too_large")


def test_the_tools_are_in_the_openapi_document(client):
    spec = client.get("/api/openapi.json").get_json()
    assert {"/api/passages/{passage_id}/citation", "/api/passages/{passage_id}/similar", "/api/export"} <= set(
        spec["paths"])
    assert sorted(spec["paths"]["/api/export"]["post"]["responses"]["200"]["content"]) == [
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document", "text/csv", "text/markdown"]


def test_every_api_answer_from_an_index_names_its_build(client, searcher):
    build = client.get("/healthz").get_json()["build_id"]
    passage = searcher.passages[0].id
    for path in (f"/api/passages/{passage}", f"/api/passages/{passage}/citation", f"/api/passages/{passage}/similar",
                 "/api/speeches", "/api/passages/no-such-id", "/api/search?q=粮食"):
        assert client.get(path).headers["X-SpeechQA-Build"] == build, path
    # so does an export, and its 404 for an id an older build had
    exported = client.post("/api/export", json={"ids": [passage], "format": "csv"})
    assert exported.headers["X-SpeechQA-Build"] == build
    assert client.post("/api/export", json={"ids": ["gone"], "format": "csv"}).headers["X-SpeechQA-Build"] == build
