"""Metrics against hand-computed cases; the evaluation, the command and the report over a small stub backend
(and the command once over the real seeds index)."""
from __future__ import annotations

import html
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest

from eval.command import main
from eval.metrics import Z_95, aggregate, first_relevant, mrr, ndcg_at_k, recall_at_k, sign_test, wilson_interval
from eval.questions import Question, squash
from eval.report import format_table
from eval.scoring import EvalError, compare, evaluate, paired_recall, relevance, score
from index.engines import choose_engine, choose_query_engine, machine_cpu
from index.query import parse_query
from index.thesaurus import term_tables

REPO = Path(__file__).resolve().parent.parent

T, F = True, False
LOG2_3 = 0.6309297535714575  # 1 / log2(3): the discount at rank 2


@pytest.mark.parametrize("rels, k, expected", [
    ([F, T, F], 1, 0.0),
    ([F, T, F], 2, 1.0),
    ([F, T, F], 10, 1.0),
    ([T, T], 1, 1.0),
    ([], 5, 0.0),
])
def test_recall_at_k_is_success_at_k(rels, k, expected):
    assert recall_at_k(rels, k) == expected


@pytest.mark.parametrize("rels, k, expected", [
    ([T, F], 10, 1.0),
    ([F, F, T], 10, 1 / 3),
    ([F, F, T], 2, 0.0),
    ([F, T, T, T], 10, 0.5),
    ([F] * 9 + [T], 10, 0.1),
    ([F] * 10 + [T], 10, 0.0),
    ([], 10, 0.0),
])
def test_mrr(rels, k, expected):
    assert mrr(rels, k) == pytest.approx(expected)


@pytest.mark.parametrize("rels, k, n_relevant, expected", [
    ([T], 10, 1, 1.0),
    ([F, T], 10, 1, LOG2_3),
    ([F, F, F, T], 10, 1, 0.43067655807339306),  # 1 / log2(5)
    ([T, T, T], 10, 1, 1.0),  # repeats of the answer earn nothing more
    ([F, T, T], 10, 1, LOG2_3),
    ([F, T, T], 10, 2, 0.6934264036172708),  # (1/log2 3 + 1/log2 4) / (1 + 1/log2 3)
    ([F, F, T], 10, 2, 0.3065735963827292),  # (1/log2 4) / (1 + 1/log2 3)
    ([F, T], 1, 1, 0.0),
    ([], 10, 1, 0.0),
])
def test_ndcg_at_k(rels, k, n_relevant, expected):
    assert ndcg_at_k(rels, k, n_relevant=n_relevant) == pytest.approx(expected)


@pytest.mark.parametrize("metric", [
    lambda: recall_at_k([T], 0), lambda: mrr([T], 0), lambda: ndcg_at_k([T], -1), lambda: ndcg_at_k([T], 5, n_relevant=0),
])
def test_metrics_reject_non_positive_k(metric):
    with pytest.raises(ValueError, match="must be a positive integer"):
        metric()


def test_first_relevant():
    assert first_relevant([F, F, T, T]) == 3
    assert first_relevant([F]) is None


def test_aggregate_means_skip_questions_a_metric_does_not_apply_to():
    rows = [{"recall@1": 1.0, "speech_acc@1": None},
            {"recall@1": 0.0, "speech_acc@1": 1.0},
            {"recall@1": 0.0, "speech_acc@1": None}]
    assert aggregate(rows) == {"recall@1": pytest.approx(1 / 3), "speech_acc@1": 1.0, "n": 3}
    assert aggregate([{"speech_acc@1": None}]) == {"speech_acc@1": None, "n": 1}
    assert aggregate([]) == {"n": 0}



def test_wilson_interval_against_its_closed_forms():
    z2 = Z_95 ** 2
    # at 0 successes the upper end is z²/(n + z²), at n the lower end n/(n + z²)
    assert wilson_interval(0, 10) == pytest.approx((0.0, z2 / (10 + z2)))
    assert wilson_interval(10, 10) == pytest.approx((10 / (10 + z2), 1.0))
    # half of the trials: centred on 0.5, half-width z·sqrt(1/40 + z²/400)/(1 + z²/10)
    half = Z_95 * (1 / 40 + z2 / 400) ** 0.5 / (1 + z2 / 10)
    assert wilson_interval(5, 10) == pytest.approx((0.5 - half, 0.5 + half))
    assert wilson_interval(0, 0) is None
    with pytest.raises(ValueError, match="successes must lie in"):
        wilson_interval(4, 3)


def test_one_miss_in_120_leaves_the_interval_below_a_goal_of_097():
    low, high = wilson_interval(116, 120)  # 0.967, the blind5 figure
    assert low < 0.97 < high


@pytest.mark.parametrize("wins, losses, expected", [
    (0, 0, 1.0),               # nothing tells the arms apart
    (3, 3, 1.0),
    (0, 5, 2 / 32),            # both tails of five fair coins, all one way
    (2, 10, 2 * (1 + 12 + 66) / 4096),
    (10, 2, 2 * (1 + 12 + 66) / 4096),
    (1, 0, 1.0),
])
def test_sign_test(wins, losses, expected):
    assert sign_test(wins, losses) == pytest.approx(expected)


def test_sign_test_rejects_negative_counts():
    with pytest.raises(ValueError, match="cannot be negative"):
        sign_test(-1, 2)


def test_paired_recall_counts_the_questions_only_one_run_finds():
    first = [{"id": "a", "lang": "zh", "rank": 1}, {"id": "b", "lang": "en", "rank": 3},
             {"id": "c", "lang": "zh", "rank": None}, {"id": "d", "lang": "zh", "rank": 2}]
    other = [{"id": "a", "lang": "zh", "rank": 2}, {"id": "b", "lang": "en", "rank": None},
             {"id": "c", "lang": "zh", "rank": 1}, {"id": "d", "lang": "zh", "rank": 2}]
    paired = paired_recall(first, other, (1, 5))
    assert list(paired) == ["all", "en", "zh"]
    assert paired["all"]["recall@1"] == {"wins": 1, "losses": 1, "p": 1.0}       # a against c
    assert paired["all"]["recall@5"] == {"wins": 1, "losses": 1, "p": 1.0}       # b against c
    assert paired["en"]["recall@5"] == {"wins": 1, "losses": 0, "p": 1.0}
    assert paired["zh"]["recall@5"] == {"wins": 0, "losses": 1, "p": 1.0}
    with pytest.raises(ValueError, match="same questions"):
        paired_recall(first, other[::-1], (1,))

# --- the evaluation over a stub backend --------------------------------------------------------

def _result(pid: str, title: str, text: str) -> dict:
    return {"passage_id": pid, "text": text, "speech": {"id": pid.split("-")[0], "title": title, "source": "a.txt"}}


A = _result("s1-0", "甲篇", "国家安全是民族复兴的根基，\n社会稳定是国家强盛的前提。")
B = _result("s1-1", "甲篇", "打好反奸防谍人民战争。")
C = _result("s2-0", "乙篇", "统筹外部安全和内部安全、国土安全和国民安全、传统安全和非传统安全、自身安全和共同安全，统筹维护和塑造国家安全。")
QUESTIONS = [
    Question("q1", "民族复兴的根基是什么？", ("民族复兴的根基， 社会稳定",), "甲篇", "fact", "zh"),
    Question("q2", "反奸防谍", ("反奸防谍人民战争",), "", "keyword", "zh"),
    Question("q3", "<b>What</b> is missing?", ("没有这句原文",), "乙篇", "crosslingual", "en"),
]
RANKINGS = {"民族复兴的根基是什么？": [C, A, B], "反奸防谍": [B, A], "<b>What</b> is missing?": [C]}
# q3's answer, which no ranking reaches
CORPUS = [A, B, C, _result("s3-0", "丙篇", "没有这句原文的人，找不到它。")]


class Recorder:
    """A search backend answering from RANKINGS that remembers how it was called."""

    def __init__(self):
        self.calls: list[tuple[str, int, str]] = []

    def __call__(self, query: str, k: int, mode: str) -> list[dict]:
        self.calls.append((query, k, mode))
        return RANKINGS[query][:k]


def test_relevance_ignores_whitespace_on_both_sides():
    assert relevance(QUESTIONS[0], [C, A, B]) == [F, T, F]


def test_evaluate_scores_buckets_and_failures():
    search = Recorder()
    result = evaluate(QUESTIONS, search, mode="dense")
    assert search.calls == [(q.question, 10, "dense") for q in QUESTIONS]
    assert result["mode"] == "dense" and result["n"] == 3 and result["ks"] == [1, 5, 10]
    assert result["metrics"] == pytest.approx({
        "recall@1": 1 / 3, "recall@5": 2 / 3, "recall@10": 2 / 3, "mrr@10": 0.5,
        "ndcg@10": (LOG2_3 + 1) / 3, "speech_acc@1": 0.5, "n": 3})
    assert result["by_lang"]["zh"] == pytest.approx({
        "recall@1": 0.5, "recall@5": 1.0, "recall@10": 1.0, "mrr@10": 0.75,
        "ndcg@10": (LOG2_3 + 1) / 2, "speech_acc@1": 0.0, "n": 2})
    assert sorted(result["by_type"]) == ["crosslingual", "fact", "keyword"]
    assert result["by_type"]["keyword"]["speech_acc@1"] is None
    assert result["by_type"]["crosslingual"] == {
        "recall@1": 0.0, "recall@5": 0.0, "recall@10": 0.0, "mrr@10": 0.0, "ndcg@10": 0.0,
        "speech_acc@1": 1.0, "n": 1}
    assert result["failures"] == [{
        "id": "q3", "question": "<b>What</b> is missing?", "type": "crosslingual", "lang": "en",
        "expected_speech": "乙篇", "gold_spans": ["没有这句原文"],
        "got": {"speech": "乙篇", "passage_id": "s2-0", "text": C["text"][:60]}}]
    assert [row["rank"] for row in result["per_question"]] == [2, 1, None]


def test_the_right_speech_first_counts_a_reprint_folded_into_the_first_result():
    question = Question("q", "甲篇讲了什么？", ("国家安全",), "甲篇", "topic", "zh")
    reprinted = dict(C, duplicates=[{"passage_id": "s1-0", "speech": {"id": "s1", "title": "甲篇"}}])
    assert score(question, [reprinted], (1,))["speech_acc@1"] == 1.0
    assert score(question, [C], (1,))["speech_acc@1"] == 0.0
    assert score(question, [], (1,))["speech_acc@1"] == 0.0


def test_evaluate_looks_as_deep_as_the_largest_k():
    search = Recorder()
    result = evaluate(QUESTIONS[:1], search, ks=(20, 1))
    assert search.calls == [(QUESTIONS[0].question, 20, "hybrid")]
    assert list(result["metrics"]) == ["recall@1", "recall@20", "mrr@10", "ndcg@10", "speech_acc@1", "n"]


@pytest.mark.parametrize("ks", [(), (0, 5), (True,), (5, 51)])
def test_evaluate_rejects_bad_cutoffs(ks):
    with pytest.raises(EvalError, match="-k takes integers from 1 to 50"):
        evaluate(QUESTIONS, Recorder(), ks=ks)


def test_compare_puts_the_first_arm_on_top_and_all_arms_under_modes():
    search = Recorder()
    result = compare(QUESTIONS, search, modes=("hybrid", "bm25"))
    assert list(result["modes"]) == ["hybrid", "bm25"]
    assert result["mode"] == "hybrid"
    assert result["metrics"] == result["modes"]["hybrid"]["metrics"]
    assert [mode for _, _, mode in search.calls] == ["hybrid"] * 3 + ["bm25"] * 3


def test_compare_pairs_each_arm_with_the_first_and_bounds_each_recall():
    def search(query, k, mode):
        # bm25 puts q1's answer first where the other arms rank it second
        return [A] if mode == "bm25" and query == QUESTIONS[0].question else RANKINGS[query][:k]

    result = compare(QUESTIONS, search, ks=(1, 5), modes=("hybrid", "bm25"))
    assert result["paired"]["bm25"]["all"] == {"recall@1": {"wins": 0, "losses": 1, "p": 1.0},
                                               "recall@5": {"wins": 0, "losses": 0, "p": 1.0}}
    assert list(result["modes"]["bm25"]["intervals"]) == ["all", "en", "zh"]
    # 2 of 3 at recall@1 for bm25, 1 of 3 for hybrid
    assert result["modes"]["bm25"]["intervals"]["all"]["recall@1"] == pytest.approx(list(wilson_interval(2, 3)))
    assert result["intervals"]["all"]["recall@1"] == pytest.approx(list(wilson_interval(1, 3)))
    assert result["intervals"]["en"]["recall@5"] == pytest.approx([0.0, Z_95 ** 2 / (1 + Z_95 ** 2)])


def test_format_table_lists_buckets_and_what_came_first_instead():
    lines = format_table(evaluate(QUESTIONS, Recorder())).splitlines()
    assert lines[0].split() == ["bucket", "arm", "n", "recall@1", "recall@5", "recall@10", "mrr@10", "ndcg@10",
                                "speech_acc@1"]
    assert lines[2].split() == ["all", "hybrid", "3", "0.333", "0.667", "0.667", "0.500", "0.544", "0.500"]
    assert lines[5].split() == ["type:keyword", "hybrid", "1", "1.000", "1.000", "1.000", "1.000", "1.000", "—"]
    low, high = wilson_interval(1, 3)
    assert lines[lines.index("95% Wilson intervals of recall@k:") + 1].split()[:6] == [
        "hybrid", "all", "3", "recall@1", "0.333", f"[{low:.3f},"]
    assert lines[-4:] == [
        "hybrid: 1 of 3 questions with no relevant passage in the top 10",
        "  q3 [crosslingual/en] <b>What</b> is missing?",
        "      expected: 乙篇",
        f"      got:      乙篇 — {C['text'][:60]}",
    ]


def test_wilson_rows_stay_aligned_for_the_unknown_language_bucket():
    unlabelled = [Question(q.id, q.question, q.gold_spans, q.speech, q.type, "unknown" if q.id == "q2" else q.lang)
                  for q in QUESTIONS]
    lines = format_table(compare(unlabelled, Recorder(), modes=("hybrid", "bm25"))).splitlines()
    start = lines.index("95% Wilson intervals of recall@k:") + 1
    rows = lines[start:start + 8]
    assert [row.split()[:2] for row in rows] == [[mode, bucket] for mode in ("hybrid", "bm25")
                                                 for bucket in ("all", "en", "unknown", "zh")]
    assert len({row.index("recall@1") for row in rows}) == 1
    paired = lines[lines.index("hybrid against each arm: questions only hybrid finds / only the arm finds, sign test:")
                   + 1:][:4]
    assert [row.split()[:2] for row in paired] == [["bm25", bucket] for bucket in ("all", "en", "unknown", "zh")]
    assert len({row.index("recall@1") for row in paired}) == 1


# --- the command, against a stub HTTP server ----------------------------------------------------

class _Handler(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (http.server's naming)
        url = urlparse(self.path)
        args = {key: values[0] for key, values in parse_qs(url.query).items()}
        phrase = parse_query(args["q"]).phrases if url.path == "/api/search" else ()
        if url.path == "/api/search" and args["q"] in RANKINGS:
            status, body = 200, {"query": args["q"], "mode": args["mode"], "took_ms": 1.0, "matched": None,
                                 "results": RANKINGS[args["q"]][:int(args["k"])]}
        elif len(phrase) == 1:  # the span check's phrase query: the passages that hold it
            holding = [result for result in CORPUS if phrase[0] in squash(result["text"])]
            status, body = 200, {"query": args["q"], "mode": args["mode"], "took_ms": 1.0, "matched": len(holding),
                                 "results": holding[:int(args["k"])]}
        else:
            status, body = 400, {"error": {"code": "bad_query", "message": "q must be a known question"}}
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()
    thread.join()


def _write_set(path, questions=QUESTIONS):
    path.write_text("".join(json.dumps({"id": q.id, "question": q.question, "gold_spans": list(q.gold_spans),
                                        "speech": q.speech, "type": q.type, "lang": q.lang},
                                       ensure_ascii=False) + "\n" for q in questions), encoding="utf-8")
    return path


def _write_unanswerable(path):
    # the stub ranks only known questions; with no confidence in its results, this one counts as flagged
    path.write_text('{"id": "o1", "question": "反奸防谍"}\n', encoding="utf-8")
    return path


def test_command_prints_json_over_http(tmp_path, server, capsys):
    questions = _write_set(tmp_path / "set.jsonl")
    assert main(["--questions", str(questions), "--url", server + "/", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["metrics"] == pytest.approx(evaluate(QUESTIONS, Recorder())["metrics"])
    assert result["backend"] == server + "/"
    assert "modes" not in result
    assert not {"index_engine", "query_engine", "cpu"} & set(result)  # a server without /healthz says nothing


def test_a_question_the_index_refuses_is_named_with_its_file(tmp_path, index_root, capsys):
    unclosed = Question("q-bad", '保交楼"怎么做', ("保交楼",), "", "keyword", "zh")
    questions = _write_set(tmp_path / "bad.jsonl", [unclosed])
    assert main(["--index", str(index_root), "--questions", str(questions)]) == 2
    assert capsys.readouterr().err.startswith(f"speechqa: {questions}: question q-bad: unclosed quote")


def test_command_on_a_local_index_names_the_engines_the_cpu_and_the_term_tables_it_measured_with(tmp_path, index_root,
                                                                                                capsys):
    # The figures move a little with the engines, which the CPU chooses, and with the CPU itself (README, Quality),
    # and with the term tables questions are expanded with.
    questions = tmp_path / "two.jsonl"
    lines = (REPO / "eval" / "questions.jsonl").read_text(encoding="utf-8").splitlines()[:2]
    questions.write_text("\n".join(lines) + "\n", encoding="utf-8")
    passages, queries, cpu = choose_engine(), choose_query_engine(choose_engine()), machine_cpu()
    tables = term_tables().describe()
    assert main(["--index", str(index_root), "--questions", str(questions), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert (result["n"], result["backend"]) == (2, str(index_root))
    assert (result["index_engine"], result["query_engine"], result["cpu"]) == (passages, queries, cpu.to_json())
    assert result["term_tables"] == tables and tables["files"] == []
    assert result["metrics"]["recall@10"] == 1.0  # two tuning questions the hybrid search finds
    assert main(["--index", str(index_root), "--questions", str(questions), "--report", str(tmp_path / "report")]) == 0
    measured_on = (f", passages through {passages}, queries through {queries} on {cpu.describe()}, term tables "
                   f"packaged ({tables['glossary']} glossary and {tables['wording']} wording entries)")
    assert capsys.readouterr().out.startswith(f"2 questions from {questions}, backend {index_root}{measured_on}\n")
    page = (tmp_path / "report" / "index.html").read_text(encoding="utf-8")
    assert f"backend <code>{html.escape(str(index_root))}</code>{html.escape(measured_on)}." in page


def test_command_compares_all_arms_and_writes_a_report(tmp_path, server, capsys):
    questions = _write_set(tmp_path / "set.jsonl")
    assert main(["--questions", str(questions), "--url", server, "--mode", "all", "-k", "1", "3",
                 "--report", str(tmp_path / "report")]) == 0
    out, err = capsys.readouterr()
    assert out.splitlines()[1].split() == ["bucket", "arm", "n", "recall@1", "recall@3", "mrr@10", "ndcg@10",
                                           "speech_acc@1"]
    assert [line.split()[:2] for line in out.splitlines()[3:6]] == [["all", "hybrid"], ["dense", "3"], ["bm25", "3"]]
    assert "  bm25   all  recall@1 +0/-0 p=1.000  recall@3 +0/-0 p=1.000" in out.splitlines()
    page = (tmp_path / "report" / "index.html").read_text(encoding="utf-8")
    assert err == f"report: {tmp_path / 'report' / 'index.html'}\n"
    assert "&lt;b&gt;What&lt;/b&gt; is missing?" in page and "<b>What</b>" not in page
    assert 'src="data:image/png;base64,' in page
    assert "95% Wilson intervals of recall@k:" in page and "hybrid against each arm" in page
    assert (tmp_path / "report" / "recall.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_sets_sharing_a_file_name_get_a_report_folder_each_under_an_overview(tmp_path, server, capsys):
    (tmp_path / "qs" / "other").mkdir(parents=True)
    first = _write_set(tmp_path / "qs" / "setA.jsonl")
    second = _write_set(tmp_path / "qs" / "other" / "setA.jsonl", QUESTIONS[:2])
    unanswerable = _write_unanswerable(tmp_path / "ooc.jsonl")
    report = tmp_path / "rep2"
    assert main(["--questions", str(first), str(second), "--url", server, "--out-of-corpus", str(unanswerable),
                 "--report", str(report)]) == 0
    err = capsys.readouterr().err
    assert err.splitlines() == [f"report: {report / 'setA' / 'index.html'}",
                                f"report: {report / 'setA-2' / 'index.html'}", f"report: {report / 'index.html'}"]
    for folder, source, n in (("setA", first, 3), ("setA-2", second, 2)):
        page = (report / folder / "index.html").read_text(encoding="utf-8")
        assert f"<p>{n} questions from <code>{source}</code>" in page
        assert (report / folder / "recall.png").is_file()
    overview = (report / "index.html").read_text(encoding="utf-8")
    assert f'<a href="setA/index.html">{first}</a>' in overview
    assert f'<a href="setA-2/index.html">{second}</a>' in overview
    assert "<h2>Out-of-corpus questions</h2>" in overview
    assert "  hybrid: 1 of 1 flagged not answered" in overview


def test_one_set_report_shows_the_out_of_corpus_counts(tmp_path, server, capsys):
    unanswerable = _write_unanswerable(tmp_path / "ooc.jsonl")
    assert main(["--questions", str(_write_set(tmp_path / "set.jsonl")), "--url", server,
                 "--out-of-corpus", str(unanswerable), "--report", str(tmp_path / "report")]) == 0
    assert capsys.readouterr().err == f"report: {tmp_path / 'report' / 'index.html'}\n"
    page = (tmp_path / "report" / "index.html").read_text(encoding="utf-8")
    assert f"<h2>Out-of-corpus questions</h2>\n<pre>out-of-corpus questions from {unanswerable}:\n" in page


def _fails(argv, capsys) -> str:
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1
    return err.strip()


def test_command_rejects_a_broken_set_with_its_line_number(tmp_path, capsys):
    path = _write_set(tmp_path / "set.jsonl")
    path.write_text(path.read_text(encoding="utf-8") + '{"id": "q9", "question": "x", "gold_spans": []}\n',
                    encoding="utf-8")
    err = _fails(["--questions", str(path), "--url", "http://127.0.0.1:9"], capsys)
    assert err == f"speechqa: {path}:4: field \"gold_spans\" is empty: list at least one verbatim span of the answer"


def test_command_refuses_a_cutoff_the_search_cannot_answer_before_asking(tmp_path, capsys):
    questions = _write_set(tmp_path / "set.jsonl")
    assert _fails(["--questions", str(questions), "--url", "http://127.0.0.1:9", "-k", "5", "60"], capsys) == (
        "speechqa: -k takes integers from 1 to 50 (got 5 60)")


def test_command_reports_server_errors_and_unreachable_servers(tmp_path, server, capsys):
    odd = _write_set(tmp_path / "odd.jsonl", [Question("x1", "没人问过", ("没有这句原文",))])
    assert _fails(["--questions", str(odd), "--url", server], capsys) == (
        f"speechqa: {odd}: question x1: {server} answered 400: q must be a known question")
    err = _fails(["--questions", str(odd), "--url", "http://127.0.0.1:9"], capsys)
    assert err.startswith("speechqa: cannot reach http://127.0.0.1:9 (") and err.endswith(
        "is `speechqa serve` running there?")
    assert _fails(["--questions", str(odd), "--url", "ftp://x"], capsys) == (
        "speechqa: --url must start with http:// or https:// (got \"ftp://x\")")


def test_command_says_how_to_get_matplotlib_for_a_report(tmp_path, capsys, monkeypatch):
    import importlib.util

    questions = _write_set(tmp_path / "set.jsonl")
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "matplotlib" else real(name, *a))
    err = _fails(["--questions", str(questions), "--url", "http://127.0.0.1:9", "--report", str(tmp_path)], capsys)
    assert err == "speechqa: --report needs matplotlib — run `pip install -e '.[report]'` or leave out --report"


@pytest.mark.parametrize("command", [["build"], ["add", "f.txt"], ["ask", "q"], ["serve"], ["eval"], ["rollback"],
                                     ["status"]])
def test_index_option_is_accepted_before_and_after_every_command(command):
    from service.cli import parser

    top = parser()
    assert top.parse_args(["--index", "elsewhere", *command]).index == "elsewhere"
    assert top.parse_args([*command, "--index", "mine"]).index == "mine"
    assert top.parse_args(["--index", "elsewhere", *command, "--index", "mine"]).index == "mine"


def test_command_says_when_the_report_cannot_be_written(tmp_path, server, capsys):
    questions = _write_set(tmp_path / "set.jsonl")
    blocker = tmp_path / "file"
    blocker.write_text("not a directory", encoding="utf-8")
    err = _fails(["--questions", str(questions), "--url", server, "--report", str(blocker / "report")], capsys)
    assert err.startswith(f"speechqa: cannot write the report to {blocker / 'report'} (")
