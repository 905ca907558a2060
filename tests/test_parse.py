"""Parsing the seed corpus: exact titles and structure, no noise, nothing lost, bad files skipped."""
from __future__ import annotations

import hashlib
import json
import os
import re
from collections import Counter
from itertools import zip_longest
from pathlib import Path

import opencc
import pytest

from index.decode import decode
from index.errors import CorpusError
from index.parse import load_corpus, parse_text, read_corpus_file, wraps
from index.records import SPEECH_METADATA
from index.simplified import simplified

SEEDS = Path(__file__).resolve().parent.parent / "seeds"
COMPILATION = "000_1206e7a3e7cffc7d.txt"
UNTITLED = "004_1de2b8558a34d7ec.txt"

# Copied from the 目录 of 000_*.txt (the count line says 11篇; the TOC and the body hold 10),
# then the title derived for the untitled 004_*.txt from its first heading.
TITLES = [
    "全面贯彻落实总体国家安全观筑牢新时代壮乡首府安全屏障",
    "认真践行总体国家安全观坚决筑牢首都“护城河”xx防线",
    "深入学习贯彻党的二十大精神牢固树立和践行总体国家安全观",
    "坚定不移贯彻总体国家安全观努力在拱卫首都安全上走在前列",
    "坚决贯彻总体国家安全观全力保障晋中高质量发展先行区建设",
    "全面贯彻落实总体国家安全观守好祖国xx大门",
    "全面贯彻总体国家安全观奋力开创新时代国家安全工作新局面",
    "牢固树立和践行总体国家安全观坚决筑牢边疆民族地区安全稳定防线",
    "坚决筑牢中国式现代化xx国门安全屏障",
    "深入贯彻落实总体国家安全观以新安全格局保障新发展格局",
    "保障粮食安全提高粮食产能",
]
BLOCKS_PER_SPEECH = [18, 15, 8, 19, 19, 20, 7, 6, 16, 4, 5]
SECTIONS_PER_SPEECH = [4, 4, 1, 4, 4, 4, 1, 1, 4, 4, 4]
# The three advertisements at the end of 000_*.txt, read from the file: the build names each.
SEED_ADS = [
    "【哒哒素材库】——每天更新材料1000多篇内部高质量素材，会员群+网盘群同步每日更新，一键精准搜索、一键快速查找、"
    "一键极速下载，有意加入请联系：1 4367，：9 649564",
    "欢迎加入“哒哒素材库svip会员”，9000万字材料，轻松解决您的各类素材需求！添加客服：cwk,请各位小伙伴认准哒哒，"
    "哒哒唯一平台（公众号：哒哒君、：cwk），谨防假冒！",
    "【哒哒代笔】——原创高质量保障、高度保密，各类代笔（润笔），好评如潮！PPT设计、各类杂志报刊网站(共产党员网等)"
    "代发布业务，持续接单中，需要的小伙伴请代笔客服：cwk",
]
SEED_WARNINGS = [
    f"{COMPILATION}: left out as an advertisement: '【哒哒素材库】——每天更新材料1000多篇内部高质量素材，会…'",
    f"{COMPILATION}: left out as an advertisement: '欢迎加入“哒哒素材库svip会员”，9000万字材料，轻松解…'",
    f"{COMPILATION}: left out as an advertisement: '【哒哒代笔】——原创高质量保障、高度保密，各类代笔（润笔），…'",
]


@pytest.fixture(scope="module")
def seeds():
    speeches, warnings = load_corpus(SEEDS)
    assert warnings == SEED_WARNINGS
    return speeches


@pytest.fixture(scope="module")
def texts():
    return {path.name: decode(path.read_bytes(), path.name) for path in SEEDS.glob("*.txt")}


def by_title(speeches, title):
    (speech,) = [s for s in speeches if s.title == title]
    return speech


def block_starting(speech, prefix):
    (block,) = [b for b in speech.blocks if b.text.startswith(prefix)]
    return block


def test_seed_titles_and_counts(seeds):
    assert [s.title for s in seeds] == TITLES
    assert Counter(s.source for s in seeds) == {COMPILATION: 10, UNTITLED: 1}
    assert [s.title_inferred for s in seeds] == [False] * 10 + [True]
    assert [len(s.blocks) for s in seeds] == BLOCKS_PER_SPEECH
    assert [len(s.sections) for s in seeds] == SECTIONS_PER_SPEECH


def test_speech_ids_are_stable_and_url_safe(seeds):
    first = seeds[0]
    assert first.id == hashlib.sha1(f"{COMPILATION}\n{first.title}".encode()).hexdigest()[:12] == "f6646d8dabc9"
    assert all(re.fullmatch(r"[0-9a-f]{12}", s.id) for s in seeds)
    assert len({s.id for s in seeds}) == 11
    assert [s.id for s in load_corpus(SEEDS)[0]] == [s.id for s in seeds]


def test_offsets_round_trip(seeds, texts):
    for speech in seeds:
        text = texts[speech.source]
        assert speech.start == speech.blocks[0].start and speech.end == speech.blocks[-1].end
        for block in speech.blocks:
            assert text[block.start:block.end] == block.text
        ends = [(b.start, b.end) for b in speech.blocks]
        assert all(a[1] < b[0] for a, b in zip(ends, ends[1:]))


def test_no_noise_reaches_a_block(seeds):
    toc_entry = re.compile(r"\d+\..+\t\d+")
    for block in (b for s in seeds for b in s.blocks):
        assert "##paid" not in block.text
        assert not any(word in block.text for word in ("素材库", "代笔", "客服", "哒哒"))
        assert not toc_entry.fullmatch(block.text)
        assert block.text not in {"目录", "（11篇）", "关于在贯彻落实总体国家安全观座谈会上的发言材料汇编"}
        assert block.text not in TITLES[:10]
        assert block.text == block.text.strip() and block.text


def seed_content_lines() -> list[str]:
    """The seed bodies line by line, read straight from the files with the noise named by hand."""
    lines = []
    for path in sorted(SEEDS.glob("*.txt")):
        raw = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
        raw = [line.replace("##paidbegin##", "") for line in raw if line and line != "##paidend##"]
        if path.name == COMPILATION:
            assert raw[3:13][0].startswith("1.") and raw[13] == TITLES[0]
            raw = raw[13:]  # collection title, count line, 目录 and 10 entries
            raw = [line for line in raw if line not in TITLES and "哒哒" not in line]
        lines += raw
    return lines


def sentences(text: str) -> list[str]:
    return [s for line in text.split("\n") for s in re.split(r"(?<=[。！？；])", line) if s]


def test_nothing_lost_every_line_and_sentence_is_in_exactly_one_block(seeds):
    expected = seed_content_lines()
    blocks = [b.text for s in seeds for b in s.blocks]
    assert Counter(blocks) == Counter(expected)
    assert Counter(s for text in blocks for s in sentences(text)) == Counter(
        s for line in expected for s in sentences(line))


def test_heading_glued_to_a_paid_marker(seeds, texts):
    speech = seeds[0]
    block = block_starting(speech, "二、全力以赴保安全")
    heading = "二、全力以赴保安全，为加快建设面向东盟开放合作的国际化大都市提供坚强保障"
    assert block.kind == "heading" and block.text == heading == block.heading
    assert block.section == (heading,)
    assert texts[COMPILATION][block.start - len("##paidbegin##"):block.start] == "##paidbegin##"
    point = block_starting(speech, "一是坚决维护政治安全")
    assert (point.kind, point.heading, point.section) == ("point", "一是坚决维护政治安全", (heading,))
    lead = speech.blocks[0]
    assert (lead.kind, lead.section, lead.heading) == ("paragraph", (), "")


def test_inline_headings_and_points(seeds):
    second = by_title(seeds, TITLES[1])
    inline = block_starting(second, "一、坚持以总体国家安全观为统领")
    assert inline.kind == "heading" and len(inline.text) == 196
    assert inline.heading == "一、坚持以总体国家安全观为统领，确保国家安全工作的正确方向"
    assert inline.section == (inline.heading,)
    closing = second.blocks[-1]
    assert closing.text.startswith("国家安全是安邦定国的重要基石")
    assert closing.section == ("三、全力以赴构建新安全格局，系统打造维护国家安全的xx样本",)

    fourth = by_title(seeds, TITLES[3])
    point = block_starting(fourth, "第一，筑牢")
    assert point.kind == "point" and point.heading == "第一，筑牢“三道防线”，坚决当好首都“护城河”"
    assert point.section == ("二、坚定不移贯彻总体国家安全观，切实增强维护国家安全能力提高公共安全治理水平",)

    untitled = seeds[-1]
    assert [b.kind for b in untitled.blocks] == ["paragraph", "heading", "heading", "heading", "paragraph"]
    assert [b.section for b in untitled.blocks] == [
        (), ("一、保障粮食安全提高粮食产能",), ("二、维护社会稳定加强民族团结",),
        ("三、健全管理提升保密意识",), ("三、健全管理提升保密意识",)]


def test_sub_headings_nest():
    text = ("讲话标题\n开场白。\n一、总体要求\n（一）指导思想\n1.坚持党的领导。必须坚持。\n"
            "一是加强学习。认真学习。\n（二）基本原则\n正文。\n二、主要任务\n收尾。\n")
    (speech,) = parse_text(text, "n.txt")
    assert speech.title == "讲话标题" and not speech.title_inferred
    assert [(b.kind, b.section, b.heading) for b in speech.blocks] == [
        ("paragraph", (), ""),
        ("heading", ("一、总体要求",), "一、总体要求"),
        ("heading", ("一、总体要求", "（一）指导思想"), "（一）指导思想"),
        ("heading", ("一、总体要求", "（一）指导思想", "1.坚持党的领导"), "1.坚持党的领导"),
        ("point", ("一、总体要求", "（一）指导思想", "1.坚持党的领导"), "一是加强学习"),
        ("heading", ("一、总体要求", "（二）基本原则"), "（二）基本原则"),
        ("paragraph", ("一、总体要求", "（二）基本原则"), ""),
        ("heading", ("二、主要任务",), "二、主要任务"),
        ("paragraph", ("二、主要任务",), ""),
    ]


def test_placeholders_are_kept(seeds):
    text = "\n".join(b.text for s in seeds for b in s.blocks)
    for placeholder in ("牢记20xx年视察xx市", "以“x·xx”全民国家安全教育日", "xxx区域医疗卫生服务", "20xx年x月xx日"):
        assert placeholder in text


def test_a_sentence_mentioning_a_public_account_survives_ads_do_not():
    text = ("守好粮仓\n我们通过微信公众号发布国家安全知识。\n"
            "【哒哒素材库】——每天更新材料1000多篇，会员群+网盘群同步每日更新\n"
            "欢迎加入“某某svip会员”，添加客服：abc\n")
    (speech,) = parse_text(text, "ad.txt")
    assert [b.text for b in speech.blocks] == ["我们通过微信公众号发布国家安全知识。"]


def test_each_seed_advertisement_is_in_the_file_and_in_no_block(seeds, texts):
    lines = texts[COMPILATION].split("\n")
    assert all(ad in lines for ad in SEED_ADS)
    blocks = {b.text for s in seeds for b in s.blocks}
    assert blocks.isdisjoint(SEED_ADS)


# An ordinary policy speech that names services: 微信客服, 更新, 下载, 联系, 加入, 接单 are its subject.
POLICY = """关于优化政务服务的讲话
一、提升服务效能
开通12345政务服务热线和政务微信客服，及时更新办事指南，方便群众下载表格、联系办理。
引导外卖骑手、网约车司机加入工会，规范平台派单接单规则，维护新就业形态劳动者权益。
推行“一网通办”，全市政务服务事项网上可办率达到百分之九十八。
"""


def test_speech_prose_about_services_is_kept_whole(tmp_path):
    (tmp_path / "policy.txt").write_text(POLICY, encoding="utf-8")
    (speech,), warnings = load_corpus(tmp_path)
    assert warnings == []
    assert [b.text for b in speech.blocks] == POLICY.splitlines()[1:]


ADVERTISEMENTS = [
    *SEED_ADS,
    "欢迎加入“某某svip会员”，添加客服：abc",
    "【公文素材】每日更新",
    "专业代写各类讲话稿、心得体会，加微信：xiezuo2023，当天交稿",
    "全套材料已上传网盘，链接：https://pan.baidu.com/s/1AbC 提取码：8k2d",
    "更多素材库资料请关注公众号“笔杆子”",
    "代笔接单，QQ 123456789",
    # a governing word does not make a line that courts a customer prose
    "严厉打击盗版，正版素材库请认准公众号：哒哒君",
    "各级机关讲话稿代写，加微信：xiezuo2023",
    # no trade named, only the goods and how to get more
    "更多精品材料请关注公众号：笔杆子素材 ，添加客服：cwk",
    "需要word版材料请加微信：bigan2023",
    "扫码关注，获取更多精品范文",
    "范文素材交流QQ群：123456789",
]


@pytest.mark.parametrize("line", ADVERTISEMENTS)
def test_advertisements_are_left_out(line):
    (speech,) = parse_text(f"守好粮仓\n要压实责任。\n{line}\n要稳定面积。", "ad.txt")
    assert [b.text for b in speech.blocks] == ["要压实责任。", "要稳定面积。"]


AD_WORDS_IN_PROSE = [
    *POLICY.splitlines()[2:4],
    "我们通过微信公众号发布国家安全知识。",
    "公布国家安全机关举报受理电话：12339，畅通群众举报渠道。",
    "建立国家安全宣传教育素材库，及时更新案例，方便基层下载使用。",
    "组织党员干部登录共产党员网www.12371.cn，下载学习资料。",
    "打造“一网通办”政务网盘，客服热线全天候接单，联系群众、服务群众。",
    # a speaker fighting the trade names it and a contact point, but governs, or gives a government one
    "要严厉打击利用网盘、会员群、VIP资料群传播涉密文件的违法行为，群众发现线索可拨打国家安全机关举报受理电话12339"
    "或关注微信公众号：国家安全部进行举报。",
    "各级党委要加强对代写代笔、网盘售卖内部资料等乱象的整治，公众号：xx发布要及时曝光典型案例。",
    "今年以来，我们会同网信部门关停违规素材库网站xx家，清理网盘链接xx条，网址：www.12339.gov.cn 已开通在线举报。",
    # a long paragraph is prose whatever it mentions
    "持续接单中，需要请联系客服：cwk。" + "要压实责任，稳定粮食播种面积。" * 15,
    # asking for contact about material, but to serve the public, to warn, or to the meeting
    "群众可关注公众号“南宁发布”，查询办事所需材料。",
    "各部门要关注政务公众号的运维，及时更新政策材料。",
    "警惕境外间谍情报机关以兼职为名诱导加微信，索要内部材料。",
    "要依法打击网上代写材料、售卖范文等行为，对通过公众号、加微信等方式招揽生意的坚决查处。",
    "学习材料已通过单位公众号推送，请大家关注公众号及时学习。",
]


@pytest.mark.parametrize("line", AD_WORDS_IN_PROSE)
def test_speech_lines_that_mention_ad_words_are_kept(line):
    (speech,) = parse_text(f"守好粮仓\n{line}", "prose.txt")
    assert [b.text for b in speech.blocks] == [line]


def test_a_left_out_advertisement_is_named_in_a_warning(tmp_path):
    (tmp_path / "ad.txt").write_text("守好粮仓\n要压实责任。\n专业代写各类讲话稿、心得体会，加微信：xiezuo2023，当天交稿\n"
                                     "要稳定面积。\n", encoding="utf-8")
    (speech,), warnings = load_corpus(tmp_path)
    assert [b.text for b in speech.blocks] == ["要压实责任。", "要稳定面积。"]
    assert warnings == ["ad.txt: left out as an advertisement: '专业代写各类讲话稿、心得体会，加微信：xiezuo2023，…'"]


# Text converted from print: page numbers and a running header between the paragraphs.
PRINTED = """守好粮仓
内部资料 注意保存
要压实粮食安全党政同责，稳定粮食播种面积，切实
— 12 —
内部资料 注意保存
提高粮食单产水平。
- 13 -
一、把牢粮食安全主动权
—14—
第 15 页
要稳定面积。
16
内部资料 注意保存
收尾。"""


def test_page_numbers_and_a_running_header_are_left_out_and_named(tmp_path):
    (tmp_path / "p.txt").write_text(PRINTED, encoding="utf-8")
    (speech,), warnings = load_corpus(tmp_path)
    assert speech.title == "守好粮仓"
    # the sentence the page break cut is one block again: the furniture is no part of the text read
    assert [b.text for b in speech.blocks] == ["要压实粮食安全党政同责，稳定粮食播种面积，切实\n提高粮食单产水平。",
                                               "一、把牢粮食安全主动权", "要稳定面积。", "收尾。"]
    text = read_corpus_file(PRINTED.encode(), "p.txt")
    assert text == "守好粮仓\n要压实粮食安全党政同责，稳定粮食播种面积，切实\n提高粮食单产水平。\n一、把牢粮食安全主动权\n要稳定面积。\n收尾。"
    assert all(text[b.start:b.end] == b.text for b in speech.blocks)
    assert warnings == ["p.txt: left out as page furniture: '内部资料 注意保存' ×3, '— 12 —', '- 13 -', '—14—', "
                        "'第 15 页', '16'"]


@pytest.mark.parametrize("number", ["·15·", "15/30", "Page 15 of 30", "page 15"])
def test_page_numbers_in_other_styles_are_left_out_and_the_sentence_they_cut_is_one_block(tmp_path, number):
    (tmp_path / "p.txt").write_text(f"守好粮仓\n要压实粮食安全党政同责，稳定粮食播种面积，切实\n{number}\n提高粮食单产水平。\n",
                                    encoding="utf-8")
    (speech,), warnings = load_corpus(tmp_path)
    assert [b.text for b in speech.blocks] == ["要压实粮食安全党政同责，稳定粮食播种面积，切实\n提高粮食单产水平。"]
    assert warnings == [f"p.txt: left out as page furniture: '{number}'"]


def test_a_chair_under_a_key_without_a_field_is_no_speaker(tmp_path):
    # 主持人：副市长　王五 read as a byline: the chair became the speaker
    (tmp_path / "s.txt").write_text("守好粮仓\n日期：2023-10-01\n主持人：副市长\u3000王五\n---\n要压实责任。", encoding="utf-8")
    (speech,), warnings = load_corpus(tmp_path)
    assert (speech.date, speech.speaker, [b.text for b in speech.blocks]) == ("2023-10-01", None, ["要压实责任。"])
    assert warnings == ["s.txt: header line '主持人：副市长\u3000王五' names no field the index keeps (日期, 时间, 地点, 讲话人, "
                        "发言人, 场合, 汇编) — left out"]


def test_a_header_warning_quotes_the_line_as_it_reads(tmp_path):
    # repr wrote the spaced-out key's U+3000 as \u3000
    (tmp_path / "s.txt").write_text("守好粮仓\n日\u3000期：2023年10月\n---\n要压实责任。", encoding="utf-8")
    assert load_corpus(tmp_path)[1] == [
        "s.txt: header line '日\u3000期：2023年10月' names no day, only the month — the date is left unset; "
        "write it as 日期：2023-04-15 or 日期：2023年4月15日"]


def test_a_furniture_warning_quotes_the_line_as_it_reads(tmp_path):
    running = "XX市人民政府办公室\u30002024年第5期"
    (tmp_path / "p.txt").write_text("守好粮仓\n" + "".join(f"{running}\n要稳定面积{n}。\n" for n in range(3)),
                                    encoding="utf-8")
    (speech,), warnings = load_corpus(tmp_path)
    assert [b.text for b in speech.blocks] == ["要稳定面积0。", "要稳定面积1。", "要稳定面积2。"]
    assert warnings == ["p.txt: left out as page furniture: 'XX市人民政府办公室　2024年第5期' ×3"]


@pytest.mark.parametrize("lines", [
    ["一、压实责任", "要稳定面积。"] * 3,  # a heading, however often
    ["不忘初心", "要稳定面积。", "牢记使命", "不忘初心", "要提高单产。"],  # a slogan twice
    ["粮食安全是国之大者。", "要稳定面积。"] * 3,  # a sentence
    ["2023", "要稳定面积。"],  # a year, not a page number
    ["要压实粮食安全党政同责，坚决扛稳粮食安全重任", "要稳定面积。"] * 3,  # longer than a running header
    ["同志们：", "要稳定面积。"] * 3,  # the speech's own words, punctuated
])
def test_repeated_content_is_not_page_furniture(lines):
    (speech,) = parse_text("守好粮仓\n" + "\n".join(lines), "r.txt")
    assert "\n".join(b.text for b in speech.blocks) == "\n".join(lines)  # every line kept (some joined)


def test_the_structure_a_compilation_repeats_is_not_page_furniture():
    speech = "甲讲话\n讲话人：张三\n---\n（2023年4月15日）\n要压实责任{n}。\n"
    text = "汇编\n目录\n1.甲讲话\t1\n2.甲讲话\t2\n3.甲讲话\t3\n" + "".join(speech.format(n=n) for n in range(3))
    speeches = parse_text(text, "c.txt")
    assert [(s.title, s.speaker, s.date, [b.text for b in s.blocks]) for s in speeches] == [
        ("甲讲话", "张三", "2023-04-15", [f"要压实责任{n}。"]) for n in range(3)]


def test_a_byline_every_speech_of_a_compilation_repeats_is_read_not_left_out_as_furniture(tmp_path):
    # a 座谈会 compilation prints the same occasion, often the same speaker, under every title
    titles = ["认真践行总体国家安全观", "坚决筑牢首都护城河", "奋力开创国家安全工作新局面"]
    speech = "{title}\n——在全市国家安全工作会议上的发言\n市委书记　张三\n（2023年4月15日）\n要压实责任{n}。\n"
    text = ("关于在全市国家安全工作会议上的发言材料汇编\n目录\n"
            + "".join(f"{n}.{title}\t{n}\n" for n, title in enumerate(titles, 1))
            + "".join(speech.format(title=title, n=n) for n, title in enumerate(titles, 1)))
    (tmp_path / "c.txt").write_text(text, encoding="utf-8")
    speeches, warnings = load_corpus(tmp_path)
    assert warnings == []
    assert [(s.title, s.occasion, s.speaker, s.date, [b.text for b in s.blocks]) for s in speeches] == [
        (title, "全市国家安全工作会议", "市委书记 张三", "2023-04-15", [f"要压实责任{n}。"])
        for n, title in enumerate(titles, 1)]


def test_a_compilation_title_naming_a_meeting_is_its_speeches_occasion_unless_a_byline_says_another(tmp_path):
    text = ("关于在全市经济工作会议上的发言材料汇编\n目录\n1.稳住工业基本盘\t1\n2.守好粮仓\t5\n"
            "稳住工业基本盘\n要稳住工业基本盘。\n"
            "守好粮仓\n——在全市农村工作会议上的发言\n要守好粮仓。\n")
    (tmp_path / "c.txt").write_text(text, encoding="utf-8")
    speeches, _ = load_corpus(tmp_path)
    assert [(s.title, s.occasion, s.collection) for s in speeches] == [
        ("稳住工业基本盘", "全市经济工作会议", "关于在全市经济工作会议上的发言材料汇编"),
        ("守好粮仓", "全市农村工作会议", "关于在全市经济工作会议上的发言材料汇编")]
    # a compilation whose title names no meeting gives none
    (tmp_path / "c.txt").write_text(text.replace("关于在全市经济工作会议上的发言材料汇编", "2023年讲话材料汇编"),
                                    encoding="utf-8")
    assert [s.occasion for s in load_corpus(tmp_path)[0]] == [None, "全市农村工作会议"]


# A reprint that a shop stamped with its ad above the title.
AD_ON_TOP = ["更多精品材料请关注公众号：笔杆子素材 ，添加客服：cwk", "牢固树立和践行总体国家安全观坚决筑牢边疆民族地区安全稳定防线",
             "——在全市国家安全工作会议上的讲话", "市委书记　张三", "（2021年3月15日）", "党的十八大以来，创造性地提出总体国家安全观。"]


@pytest.mark.parametrize("between", ["\n", "\n\n\n"])
def test_an_ad_above_the_title_leaves_the_title_byline_and_date_as_they_are(tmp_path, between):
    (tmp_path / "a.txt").write_text(between.join(AD_ON_TOP), encoding="utf-8")
    (speech,), warnings = load_corpus(tmp_path)
    assert (speech.title, speech.title_inferred, speech.occasion, speech.speaker, speech.date) == (
        AD_ON_TOP[1], False, "全市国家安全工作会议", "市委书记 张三", "2021-03-15")
    assert [b.text for b in speech.blocks] == [AD_ON_TOP[-1]]
    assert warnings == [f"a.txt: left out as an advertisement: {AD_ON_TOP[0]!r}"]


# A reprint cut from a periodical: the shop's ad, the periodical's header, then the speech as printed.
REPRINT = ["更多精品材料请关注公众号：笔杆子素材 ，添加客服：cwk", "安全生产类讲话精选（第12期）",
           "坚持人民至上生命至上　坚决守牢安全生产底线", "——在全县安全生产工作会议上的讲话", "县委书记　王建国", "（2024年5月8日）",
           "同志们：", "今天召开全县安全生产工作会议，主要任务是分析形势、压实责任。"]


def test_a_periodical_header_above_the_title_is_the_collection_and_the_byline_and_date_are_read(tmp_path):
    (tmp_path / "a.txt").write_text("\n".join(REPRINT), encoding="utf-8")
    (speech,), warnings = load_corpus(tmp_path)
    assert (speech.title, speech.title_inferred, speech.collection, speech.occasion, speech.speaker, speech.date) == (
        REPRINT[2], False, "安全生产类讲话精选（第12期）", "全县安全生产工作会议", "县委书记 王建国", "2024-05-08")
    assert [b.text for b in speech.blocks] == REPRINT[-2:]
    assert warnings == [f"a.txt: left out as an advertisement: {REPRINT[0]!r}"]


@pytest.mark.parametrize("header", ["领导讲话选编 2024年第3期", "《基层治理文选》(总第120期)", "每周讲话汇编", "第十二期"])
def test_a_series_or_issue_header_in_any_of_its_forms_is_the_collection(header):
    (speech,) = parse_text("\n".join([header, *REPRINT[2:]]), "a.txt")
    assert (speech.title, speech.collection, speech.speaker) == (REPRINT[2], header, "县委书记 王建国")


@pytest.mark.parametrize("lines, title", [
    # the word closes the title, but the byline follows it at once: a title, not a header
    (["守正创新做好地方志资料汇编", "——在全县地方志工作会议上的讲话", "县委书记　王建国"], "守正创新做好地方志资料汇编"),
    (["全县安全生产讲话精选", "县委书记　王建国", "（2024年5月8日）"], "全县安全生产讲话精选"),
    # a title printed over two lines, the word or the issue inside the first, not closing it
    (["精选良种强基础", "科技兴粮促振兴", "——在全县春耕生产工作会议上的讲话"], "精选良种强基础"),
    (["第12期乡村振兴夜校开班", "办出特色办出实效", "——在乡村振兴夜校开班式上的讲话"], "第12期乡村振兴夜校开班"),
    # no byline, date or header line under the second line: nothing says the first is a header
    (["安全生产类讲话精选（第12期）", "坚持人民至上生命至上", "同志们："], "安全生产类讲话精选（第12期）"),
])
def test_a_title_that_holds_a_series_word_stays_the_title(lines, title):
    (speech,) = parse_text("\n".join([*lines, REPRINT[-1]]), "a.txt")
    assert (speech.title, speech.title_inferred, speech.collection) == (title, False, None)


def test_compilation_with_a_repeated_title_gets_distinct_ids():
    text = "汇编\n（3篇）\n目录\n1.甲讲话\t1\n2. 乙 讲话\t2\n3.甲讲话\t3\n甲讲话\n正文一。\n乙讲话\n正文二。\n甲讲话\n正文三。\n"
    speeches = parse_text(text, "c.txt")
    base = hashlib.sha1("c.txt\n甲讲话".encode()).hexdigest()[:12]
    assert [(s.title, s.id) for s in speeches] == [
        ("甲讲话", base), ("乙讲话", hashlib.sha1("c.txt\n乙讲话".encode()).hexdigest()[:12]), ("甲讲话", base + "-2")]
    assert [[b.text for b in s.blocks] for s in speeches] == [["正文一。"], ["正文二。"], ["正文三。"]]


def test_a_body_title_matches_its_toc_entry_whatever_its_punctuation(tmp_path):
    text = ("汇编\n目录\n1.甲讲话\t1\n2.坚定不移贯彻总体国家安全观努力在拱卫首都安全上走在前列\t2\n3.认真践行“枫桥经验”\t3\n"
            "甲讲话\n正文一。\n坚定不移贯彻总体国家安全观，努力在拱卫首都安全上走在前列\n正文二。\n"
            "我们要坚定不移贯彻总体国家安全观，努力在拱卫首都安全上走在前列。\n认真践行 枫桥经验\n正文三。\n")
    (tmp_path / "c.txt").write_text(text, encoding="utf-8")
    speeches, warnings = load_corpus(tmp_path)
    assert warnings == []
    # a line that ends a sentence where its entry does not is prose that quotes the title
    assert [(s.title, [b.text for b in s.blocks]) for s in speeches] == [
        ("甲讲话", ["正文一。"]),
        ("坚定不移贯彻总体国家安全观，努力在拱卫首都安全上走在前列",
         ["正文二。", "我们要坚定不移贯彻总体国家安全观，努力在拱卫首都安全上走在前列。"]),
        ("认真践行 枫桥经验", ["正文三。"])]


def test_a_toc_entry_that_matches_no_body_line_is_named_in_a_warning(tmp_path):
    (tmp_path / "c.txt").write_text("汇编\n目录\n1.甲讲话\t1\n2.乙讲话\t2\n甲讲话\n正文一。\n乙的讲话\n正文二。\n",
                                    encoding="utf-8")
    (speech,), warnings = load_corpus(tmp_path)
    assert (speech.title, [b.text for b in speech.blocks]) == ("甲讲话", ["正文一。", "乙的讲话", "正文二。"])
    assert warnings == ["c.txt: 目录 entry '乙讲话' matches no line of the body — its text stays in the speech before "
                        "it, or in an untitled first speech"]


@pytest.mark.parametrize("count", ["（共5篇）", "共五篇", "(共 2 篇)", "（2篇）", "两篇"])
def test_a_count_line_under_the_toc_head_is_read_as_a_count_not_trusted_and_the_toc_used(tmp_path, count):
    text = f"发言材料汇编\n目录\n{count}\n1.甲讲话\t1\n2.乙讲话\t5\n甲讲话\n正文一。\n乙讲话\n正文二。\n"
    (tmp_path / "c.txt").write_text(text, encoding="utf-8")
    speeches, warnings = load_corpus(tmp_path)
    assert warnings == []
    assert [(s.title, s.collection, [b.text for b in s.blocks]) for s in speeches] == [
        ("甲讲话", "发言材料汇编", ["正文一。"]), ("乙讲话", "发言材料汇编", ["正文二。"])]


@pytest.mark.parametrize("notes", ["共计3篇", "（共收录3篇）", "本辑共3篇", "（按发言顺序排列）", "标题……页码",
                                   "（内部资料）\n二〇二四年三月"])
def test_lines_of_notes_between_the_toc_head_and_its_entries_leave_the_toc_read(notes):
    text = f"发言材料汇编\n目录\n{notes}\n1.甲讲话\t1\n2.乙讲话\t5\n甲讲话\n正文一。\n乙讲话\n正文二。\n"
    assert [(s.title, [b.text for b in s.blocks]) for s in parse_text(text, "c.txt")] == [
        ("甲讲话", ["正文一。"]), ("乙讲话", ["正文二。"])]


def test_untitled_without_headings_uses_its_first_sentence():
    (speech,) = parse_text("同志们，国家安全是头等大事。我们要抓好落实。\n第二段。", "u.txt")
    assert (speech.title, speech.title_inferred) == ("同志们，国家安全是头等大事", True)
    assert parse_text("只有标题", "t.txt") == [] and parse_text("\n \n", "e.txt") == []


def test_an_inferred_title_is_one_line_of_a_wrapped_opening():
    (speech,) = parse_text("同志们，今天我们召开全市国家安全工作会议，主要任务是深入学习贯彻\n总体国家安全观，研究部署今年工作。",
                           "u.txt")
    assert [b.text.count("\n") for b in speech.blocks] == [1]  # one paragraph, wrapped
    assert (speech.title, speech.title_inferred) == ("同志们，今天我们召开全市国家安全工作会议，主要任务是深入学习贯彻", True)


# A title of parallel clauses apart by commas, as this genre's titles often are, with no header under it.
COMMA_BODY = "指出：“我们党要巩固执政地位，保证国家安全是头等大事。”面对复杂形势，维护国家安全是顺利推进各项事业的保障。\n"


@pytest.mark.parametrize("title, under", [
    ("坚定信念，勇毅前行", COMMA_BODY),
    ("凝心聚力,奋勇争先", COMMA_BODY),  # a half-width comma
    ("坚持党的领导，统筹发展和安全，推进平安建设", COMMA_BODY),  # three clauses
    ("聚焦安全生产，筑牢责任落实（0-22）", "一、奋力开创经济安全\n坚决维护经济安全。\n"),  # a remark in brackets
    ("凝心聚力，奋勇争先：在全市大会上的讲话", COMMA_BODY),  # a subtitle saying where it was given
    # longer than a wrapped line may be short, over 同志们： or over a paragraph a page wide
    ("坚定不移贯彻总体国家安全观，始终沿着指引的方向坚定前行", COMMA_BODY),
    ("坚定不移贯彻总体国家安全观，始终沿着指引的方向坚定前行", "同志们：\n" + COMMA_BODY),
    ("坚定不移贯彻总体国家安全观，始终沿着指引的方向坚定前行",
     "今天我们召开全市国家安全工作会议，主要任务是深入学习贯彻总体国家\n安全观，研究部署今年工作。\n"),
])
def test_a_first_line_of_parallel_clauses_apart_by_commas_is_the_title(title, under):
    (speech,) = parse_text(f"{title}\n{under}", "t.txt")
    assert (speech.title, speech.title_inferred) == (title, False)
    assert speech.blocks[0].text == under.split("\n")[0] or "\n" in speech.blocks[0].text
    assert title not in [b.text for b in speech.blocks]


@pytest.mark.parametrize("opening", [
    "同志们，朋友们",  # addresses the hall
    "各位领导，各位来宾",
    "尊敬的各位代表，亲爱的同志们",
    "今天我们召开全市大会，部署国家安全工作",  # speaks as we
    "当前，我国发展进入战略机遇和风险挑战并存",  # a lead-in: a clause too short to be parallel
    "近年来，我市国家安全工作取得显著成效",
    "首先，要提高政治站位",  # a point
    "一、坚定信念，勇毅前行",  # a heading
    "坚定信念，勇毅前行。",  # a sentence
    "坚定信念，勇毅前行，为建设平安城市、法治城市作出新的更大贡献",  # other punctuation
    "坚定信念、勇毅前行，奋力开创国家安全工作新局面",
    "Stay firm, forge ahead",  # no Chinese clauses
])
def test_a_first_line_with_commas_that_is_no_parallel_title_stays_the_speechs_text(opening):
    (speech,) = parse_text(f"{opening}\n{COMMA_BODY}", "t.txt")
    assert speech.title_inferred
    assert speech.blocks[0].text.split("\n")[0] == opening  # a line of 15 or more runs on into the next


@pytest.mark.parametrize("text", [
    # cut at the page's edge: the line under it is as wide, or shorter and closes the sentence
    "各类水库汛期一律按照防汛要求运行，严格执行调度指令，水位在汛限水位以上\n一律不得蓄水，确保水库安全度汛。\n要加强巡查值守。",
    "面对复杂严峻的国际形势，必须坚持底线思维增强忧患意识\n做好应对各种风险挑战的准备确保国家安全和社会稳\n定。",
    "面对复杂严峻的国际形势，必须坚持底线思维增强忧患意识\n，做好应对各种风险挑战的准备。",
])
def test_a_first_line_of_parallel_clauses_wrapped_at_the_pages_edge_is_no_title(text):
    (speech,) = parse_text(text, "t.txt")
    assert speech.title_inferred
    assert speech.blocks[0].text == text.split("\n要")[0]  # one paragraph, its line breaks kept


def test_a_parallel_title_alone_is_the_text_of_an_untitled_speech():
    (speech,) = parse_text("坚定信念，勇毅前行\n", "t.txt")  # no body under it: no title
    assert (speech.title, speech.title_inferred, [b.text for b in speech.blocks]) == (
        "坚定信念，勇毅前行", True, ["坚定信念，勇毅前行"])


def test_decode_bom_gb18030_and_line_ends():
    assert decode("\ufeff标题\r\n\u3000\u3000正文。 \r\n\r\n结尾。\r".encode("utf-8"), "a.txt") == "标题\n正文。\n结尾。"
    assert decode("标题\r\n正文。".encode("gb18030"), "b.txt") == "标题\n正文。"
    assert decode("标题\n正文。".encode("utf-16"), "c.txt") == "标题\n正文。"
    with pytest.raises(CorpusError, match=r"^d\.txt: binary file"):
        decode(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "d.txt")
    with pytest.raises(CorpusError, match=r"^e\.txt: neither UTF-8, GB18030 nor Big5"):
        decode(b"\xff\xff\x80\x80", "e.txt")


@pytest.mark.parametrize("codec", ["utf-16-le", "utf-16-be"])
@pytest.mark.parametrize("text", [POLICY, "Rural revitalization\r\n1. Stabilise the grain area.\r\n"])
def test_utf16_without_a_byte_order_mark_is_decoded(codec, text):
    # Chinese text holds few NUL bytes (一 U+4E00 has one), English text one in every two
    assert decode(text.encode(codec), "u.txt") == "\n".join(line.strip() for line in text.splitlines())


def test_big5_is_decoded_as_big5_not_read_as_gb18030():
    text = "關於優化政務服務的講話\n一、提升服務效能\n推行「一網通辦」，全市政務服務事項網上可辦率達到百分之九十八。"
    data = text.encode("cp950")
    assert data.decode("gb18030") != text  # GB18030 reads any Big5 file, as rare characters
    assert decode(data, "big5.txt") == text
    # and a GB18030 file whose bytes Big5 also reads stays GB18030
    simplified = "关于优化政务服务的讲话\n一、提升服务效能"
    assert simplified.encode("gb18030").decode("cp950") != simplified
    assert decode(simplified.encode("gb18030"), "gb.txt") == simplified


BIG5_TEXT = "端牢飯碗\n一、穩定糧食播種面積\n要壓實責任，確保糧食產量穩定。"


def damaged_seed(damage: str) -> tuple[bytes, str]:
    """A file with a damage found in a user's archive, and the text it should read as: what the
    undamaged file reads as, a U+FFFD for each run of bytes its encoding cannot read."""
    if damage == "cut GB18030":  # a GB18030 copy whose last character was cut in half
        text = (SEEDS / UNTITLED).read_text(encoding="utf-8").rstrip()
        return text.encode("gb18030")[:-1], text[:-1] + "\ufffd"
    if damage == "cut Big5":
        return BIG5_TEXT.encode("cp950")[:-1], BIG5_TEXT[:-1] + "\ufffd"
    lines = (SEEDS / COMPILATION).read_text(encoding="utf-8").split("\n")
    if damage == "stray byte":  # one 0xFF inside line 36 of a UTF-8 file
        line = lines[35]
        data = "\n".join(lines[:35] + [line[:10]]).encode() + b"\xff" + "\n".join([line[10:]] + lines[36:]).encode()
        return data, "\n".join(lines[:35] + [line[:10] + "\ufffd" + line[10:]] + lines[36:])
    gbk = lines[17].encode("gbk")  # line 18, a heading, saved as GBK inside the UTF-8 file
    return ("\n".join(lines[:17]).encode() + b"\n" + gbk + b"\n" + "\n".join(lines[18:]).encode(),
            "\n".join(lines[:17] + [gbk.decode("utf-8", "replace")] + lines[18:]))


REPLACED = "— compare those lines with the original and re-save it as UTF-8"


@pytest.mark.parametrize("damage, warning", [
    ("cut GB18030", f"x.txt: read as GB18030 with 1 bad byte replaced by U+FFFD (line 5) {REPLACED}"),
    ("cut Big5", f"x.txt: read as Big5 with 1 bad byte replaced by U+FFFD (line 3) {REPLACED}"),
    ("stray byte", f"x.txt: read as UTF-8 with 1 bad byte replaced by U+FFFD (line 36) {REPLACED}"),
    ("GBK line", f"x.txt: read as UTF-8 with 35 bad bytes replaced by U+FFFD (line 18) {REPLACED}"),
])
def test_a_file_with_a_few_bad_bytes_is_read_with_them_replaced_and_named(tmp_path, damage, warning):
    data, text = damaged_seed(damage)
    for folder, content in (("damaged", data), ("expected", text.encode("utf-8"))):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "x.txt").write_bytes(content)
    speeches, warnings = load_corpus(tmp_path / "damaged")
    expected, expected_warnings = load_corpus(tmp_path / "expected")
    assert warnings == [warning, *expected_warnings]
    assert speeches == expected and len(speeches) == (10 if damage in ("stray byte", "GBK line") else 1)
    assert read_corpus_file(data, "x.txt") == read_corpus_file(text.encode("utf-8"), "x.txt")


def test_bad_bytes_on_many_lines_are_named_by_their_first_five_lines(tmp_path):
    lines = ["守好粮仓".encode()] + ["要压实责任，确保粮食安全。".encode()] * 179  # 7,358 bytes: up to 7 may be bad
    for number in (3, 3, 5, 7, 9, 11, 13):
        lines[number - 1] += b"\xff"
    (tmp_path / "many.txt").write_bytes(b"\r\n".join(lines))
    (speech,), warnings = load_corpus(tmp_path)
    assert warnings == [f"many.txt: read as UTF-8 with 7 bad bytes replaced by U+FFFD (lines 3, 5, 7, 9, 11 …) {REPLACED}"]
    text = read_corpus_file(b"\r\n".join(lines), "many.txt")
    assert [line.count("\ufffd") for line in text.split("\n")[:14]] == [0, 0, 2, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0]
    assert all(text[b.start:b.end] == b.text for b in speech.blocks)
    lines[-1] += b"\xff"  # one more is too many
    with pytest.raises(CorpusError, match=r"^many\.txt: neither UTF-8, GB18030 nor Big5 text \(closest: UTF-8, 8 bad "
                                          r"bytes, the first on line 3\)"):
        decode(b"\r\n".join(lines), "many.txt")


@pytest.mark.parametrize("data, closest", [
    ("标题\r\n正文。\r\n".encode() + b"\xff\xff\r\n", "UTF-8, 2 bad bytes, the first on line 3"),
    (BIG5_TEXT.encode("cp950") + b"\n\xff\xff", "Big5, 2 bad bytes, the first on line 4"),
], ids=["utf-8", "big5"])
def test_a_file_far_from_every_encoding_is_refused_naming_its_first_bad_line(data, closest):
    with pytest.raises(CorpusError) as error:
        decode(data, "far.txt")
    assert str(error.value) == f"far.txt: neither UTF-8, GB18030 nor Big5 text (closest: {closest}) — re-save it as UTF-8"


def test_bom_and_gb18030_files_load_with_offsets_into_decoded_text(tmp_path):
    (tmp_path / "a.txt").write_bytes("\ufeff守好粮仓\r\n一、保障粮食安全\r\n一是稳定面积。".encode("utf-8"))
    (tmp_path / "b.txt").write_bytes("维护稳定\n\u3000\u3000加强民族团结，化解矛盾纠纷。\n".encode("gb18030"))
    speeches, warnings = load_corpus(tmp_path)
    assert warnings == []
    assert [(s.title, [b.text for b in s.blocks]) for s in speeches] == [
        ("守好粮仓", ["一、保障粮食安全", "一是稳定面积。"]), ("维护稳定", ["加强民族团结，化解矛盾纠纷。"])]
    for speech in speeches:
        text = decode((tmp_path / speech.source).read_bytes(), speech.source)
        assert all(text[b.start:b.end] == b.text for b in speech.blocks)


def test_bad_files_are_warned_and_skipped_good_ones_load(tmp_path):
    good = "守好粮仓\n一、保障粮食安全\n一是稳定粮食播种面积。\n".encode("utf-8")
    (tmp_path / "a_empty.txt").write_bytes(b"")
    (tmp_path / "b_binary.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    (tmp_path / "c_undecodable.txt").write_bytes(b"\xff\xff\x80\x80")
    (tmp_path / "d_good.txt").write_bytes(good)
    (tmp_path / "e_title_only.txt").write_bytes("只有一个标题\n".encode("utf-8"))
    (tmp_path / "f_copy.txt").write_bytes(b"\xef\xbb\xbf" + good.replace(b"\n", b"\r\n"))
    (tmp_path / "notes.md").write_bytes(b"ignored")
    speeches, warnings = load_corpus(tmp_path)
    assert [(s.source, s.title) for s in speeches] == [("d_good.txt", "守好粮仓")]
    assert warnings == [
        "notes.md: skipped, not a .txt or .docx file — save it as UTF-8 text or .docx to index it",
        "a_empty.txt: skipped, empty file",
        "b_binary.txt: binary file (contains NUL bytes) — only UTF-8, UTF-16, GB18030 or Big5 text is indexed "
        "(skipped)",
        "c_undecodable.txt: neither UTF-8, GB18030 nor Big5 text (closest: UTF-8, 4 bad bytes, the first on "
        "line 1) — re-save it as UTF-8 (skipped)",
        "e_title_only.txt: skipped, only a title, no body",
        "f_copy.txt: skipped, same content as d_good.txt",
    ]


def write_docx(path: Path, lines: list[str], table: list[list[str]] | None = None, merge_first_row: bool = False,
               after_table: list[str] = ()) -> Path:
    """A real Word document (python-docx): ``lines`` as paragraphs, then ``table``, then ``after_table``."""
    from docx import Document

    document = Document()
    for line in lines:
        document.add_paragraph(line)
    if table:
        grid = document.add_table(rows=len(table), cols=len(table[0]))
        for r, row in enumerate(table):
            for c, text in enumerate(row):
                grid.cell(r, c).text = text
        if merge_first_row:
            merged = grid.cell(0, 0).merge(grid.cell(0, len(table[0]) - 1))
            merged.text = table[0][0]
    for line in after_table:
        document.add_paragraph(line)
    document.save(path)
    return path


def test_a_word_document_reads_as_its_paragraphs_then_its_table_rows(tmp_path):
    path = write_docx(tmp_path / "a.docx", ["守好城市防汛底线", "", "\u3000\u3000一、提高防汛应急能力 ",
                                            "一是完善排水管网。\n汛前完成易涝点整治。"],
                      table=[["整治清单", "", ""], ["下穿通道", "五月底前", "市政\n交通"]], merge_first_row=True,
                      after_table=["二是加强预警发布。"])
    # blank paragraphs dropped, lines trimmed, a soft line break a line; a merged cell once,
    # a cell's own line breaks folded into spaces so that a row stays one line
    assert read_corpus_file(path.read_bytes(), "a.docx") == (
        "守好城市防汛底线\n一、提高防汛应急能力\n一是完善排水管网。\n汛前完成易涝点整治。\n"
        "整治清单\n下穿通道 | 五月底前 | 市政 交通\n二是加强预警发布。")


@pytest.mark.parametrize("data", [b"not a zip at all", b"PK\x05\x06" + b"\x00" * 18])
def test_a_file_named_docx_that_is_none_is_an_error_naming_it(data):
    with pytest.raises(CorpusError, match=r"^b\.docx: not a readable Word \.docx file"):
        read_corpus_file(data, "b.docx")


def test_a_corpus_directory_takes_text_and_word_files_and_names_every_other_file(tmp_path):
    (tmp_path / "a_speech.txt").write_text("守好粮仓\n一、保障粮食安全\n一是稳定粮食播种面积。\n", encoding="utf-8")
    write_docx(tmp_path / "b_speech.DOCX", ["守好城市防汛底线", "一、提高防汛应急能力", "一是完善排水管网。"])
    (tmp_path / "b_speech.meta.json").write_text('{"place": "南宁"}', encoding="utf-8")
    (tmp_path / "c_scan.pdf").write_bytes(b"%PDF-1.4")
    (tmp_path / "d_old.doc").write_bytes(b"\xd0\xcf\x11\xe0")
    (tmp_path / "~$_speech.docx").write_bytes(b"owner")  # Word's lock file beside an open document
    (tmp_path / ".DS_Store").write_bytes(b"\x00")
    (tmp_path / "e_broken.docx").write_bytes(b"half a download")
    (tmp_path / "drafts").mkdir()
    speeches, warnings = load_corpus(tmp_path)
    assert [(s.source, s.title, s.place) for s in speeches] == [("a_speech.txt", "守好粮仓", None),
                                                                 ("b_speech.DOCX", "守好城市防汛底线", "南宁")]
    assert speeches[1].blocks[-1].text == "一是完善排水管网。"
    assert warnings == [
        "c_scan.pdf: skipped, not a .txt or .docx file — save it as UTF-8 text or .docx to index it",
        "d_old.doc: skipped, not a .txt or .docx file — save it as UTF-8 text or .docx to index it",
        "e_broken.docx: not a readable Word .docx file — open and save it again in Word, or save it as UTF-8 text "
        "(skipped)",
    ]


def test_a_library_in_folders_is_read_whole_each_file_named_by_its_path(tmp_path):
    speech = "{title}\n一、保障粮食安全\n一是稳定{what}播种面积。\n"
    for relative, title, what in (("2023/06/a.txt", "守好粮仓", "粮食"), ("2023/b.txt", "稳产保供", "大豆"),
                                  ("c.txt", "藏粮于地", "玉米"), ("2024/专题/d.txt", "藏粮于技", "油料"),
                                  (".git/e.txt", "不读", "隐藏")):
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relative).write_text(speech.format(title=title, what=what), encoding="utf-8")
    (tmp_path / "2023" / "06" / "a.meta.json").write_text('{"place": "南宁"}', encoding="utf-8")
    (tmp_path / "2024" / "专题" / "scan.pdf").write_bytes(b"%PDF-1.4")
    (tmp_path / "2023" / "b.txt").write_text(speech.format(title="守好粮仓", what="粮食"), encoding="utf-8")  # a reprint
    os.symlink(tmp_path, tmp_path / "2024" / "loop")  # a link back up the tree: named, not followed
    speeches, warnings = load_corpus(tmp_path)
    assert [(s.source, s.title, s.place) for s in speeches] == [
        ("2023/06/a.txt", "守好粮仓", "南宁"), ("2024/专题/d.txt", "藏粮于技", None), ("c.txt", "藏粮于地", None)]
    assert warnings == [
        "2024/loop: skipped, a link to a folder (not followed) — give the folder itself as --corpus",
        "2024/专题/scan.pdf: skipped, not a .txt or .docx file — save it as UTF-8 text or .docx to index it",
        "2023/b.txt: skipped, same content as 2023/06/a.txt"]


def test_of_two_files_with_one_text_the_one_named_as_a_copy_is_skipped(tmp_path):
    speech = "{title}\n一、总体要求\n要统筹{what}。\n"
    files = {  # each copy's name sorts before its original's: a space or a "(" before the "."
        "2024/新安全格局 副本.txt": ("新安全格局", "发展和安全", "utf-8"),
        "2024/新安全格局.txt": ("新安全格局", "发展和安全", "utf-8"),
        "国家安全 座谈会 汇编 copy (1).txt": ("座谈会", "国家安全", "utf-8"),
        "国家安全 座谈会 汇编.txt": ("座谈会", "国家安全", "utf-8"),
        "粮食安全 - 副本.txt": ("粮食安全", "粮食生产", "gb18030"),  # the same text in another encoding
        "粮食安全.txt": ("粮食安全", "粮食生产", "utf-8"),
        "讲话（1）.txt": ("防汛", "防汛抗旱", "utf-8"),
        "讲话（2）.txt": ("防汛", "防汛抗旱", "utf-8"),  # both named as copies: the first is kept
    }
    for name, (title, what, codec) in files.items():
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_bytes(speech.format(title=title, what=what).encode(codec))
    speeches, warnings = load_corpus(tmp_path)
    assert [s.source for s in speeches] == ["2024/新安全格局.txt", "国家安全 座谈会 汇编.txt", "粮食安全.txt",
                                            "讲话（1）.txt"]
    assert warnings == ["2024/新安全格局 副本.txt: skipped, same content as 2024/新安全格局.txt",
                        "国家安全 座谈会 汇编 copy (1).txt: skipped, same content as 国家安全 座谈会 汇编.txt",
                        "粮食安全 - 副本.txt: skipped, same content as 粮食安全.txt",
                        "讲话（2）.txt: skipped, same content as 讲话（1）.txt"]


# each sorts before 讲话.txt, so that the file order alone would keep it
@pytest.mark.parametrize("name", ["讲话 - 副本.txt", "讲话 - 副本 (2).txt", "讲话 拷贝 2.txt", "讲话 - Copy.txt",
                                  "讲话 copy 2.txt", "讲话 (another copy).txt", "讲话 (3rd copy).txt", "讲话(1).txt",
                                  "Copy of 讲话.txt", "Copy (2) of 讲话.txt", "講話 拷貝 2.txt"])
def test_each_way_of_naming_a_copy_is_the_one_skipped(tmp_path, name):
    for file in (name, "讲话.txt"):
        (tmp_path / file).write_text("守好粮仓\n要压实责任。\n", encoding="utf-8")
    speeches, warnings = load_corpus(tmp_path)
    assert [s.source for s in speeches] == ["讲话.txt"]
    assert warnings == [f"{name}: skipped, same content as 讲话.txt"]


@pytest.mark.parametrize("name", ["photocopy.txt", "讲话(2024).txt", "讲话 （一）.txt", "copyright.txt"])
def test_a_name_merely_like_a_copys_keeps_the_file_order(tmp_path, name):
    for file in (name, "讲话.txt"):
        (tmp_path / file).write_text("守好粮仓\n要压实责任。\n", encoding="utf-8")
    speeches, warnings = load_corpus(tmp_path)
    assert [s.source for s in speeches] == [name]
    assert warnings == [f"讲话.txt: skipped, same content as {name}"]


def test_a_name_an_earlier_source_gave_takes_as_many_folders_as_make_it_unique(tmp_path):
    library, other = tmp_path / "library", tmp_path / "archive" / "2024"
    for folder in (library / "2024", other):
        folder.mkdir(parents=True)
    for number, path in enumerate((library / "a.txt", library / "2024" / "a.txt", other / "a.txt", tmp_path / "a.txt")):
        path.write_text(f"讲话{number}\n正文第{number}段。\n", encoding="utf-8")
    speeches, warnings = load_corpus(library, other / "a.txt", tmp_path / "a.txt")
    # the library's 2024/a.txt took "2024/a.txt", so archive/2024/a.txt needs two folders
    assert warnings == [] and [s.source for s in speeches] == ["2024/a.txt", "a.txt", "archive/2024/a.txt",
                                                                f"{tmp_path.name}/a.txt"]
    assert len({s.id for s in speeches}) == 4


def test_a_word_document_given_alone_is_read_as_one(tmp_path):
    path = write_docx(tmp_path / "only.docx", ["守好城市防汛底线", "一、提高防汛应急能力", "一是完善排水管网。"])
    speeches, warnings = load_corpus(path)
    assert warnings == [] and [s.title for s in speeches] == ["守好城市防汛底线"]


def test_a_directory_of_no_corpus_file_says_what_it_holds(tmp_path):
    (tmp_path / "scan.pdf").write_bytes(b"%PDF-1.4")
    assert load_corpus(tmp_path) == ([], [
        "scan.pdf: skipped, not a .txt or .docx file — save it as UTF-8 text or .docx to index it",
        f"{tmp_path}: no .txt or .docx files found"])


def test_missing_corpus_path_is_an_error(tmp_path):
    with pytest.raises(CorpusError, match="does not exist"):
        load_corpus(tmp_path / "nowhere")
    # a file named alone must be one the parser reads: a folder's other files are only warned about
    (tmp_path / "notes.md").write_text("讲话\n正文。\n", encoding="utf-8")
    with pytest.raises(CorpusError, match="notes.md: not a .txt or .docx file"):
        load_corpus(tmp_path / "notes.md")


def test_huge_single_line_file_is_one_heading_block_and_a_warning(tmp_path):
    line = "一、国家安全是头等大事，人民安全是根本。" * 90_000  # ~5.4 MB of UTF-8, no newline
    (tmp_path / "huge.txt").write_bytes(line.encode("utf-8"))
    (speech,), warnings = load_corpus(tmp_path)
    assert len(warnings) == 1 and warnings[0].startswith("huge.txt: a line of 1,800,000 characters")
    assert speech.title_inferred and speech.title == "国家安全是头等大事，人民安全是根本"
    (block,) = speech.blocks
    assert (block.kind, block.start, block.end) == ("heading", 0, len(line))


# --- speech metadata: header block, sidecar file, dated line, collection ---------------------

COLLECTION = "关于在贯彻落实总体国家安全观座谈会上的发言材料汇编"


def test_seed_metadata_is_the_collection_title_and_its_meeting_and_nothing_guessed(seeds):
    assert [s.collection for s in seeds] == [COLLECTION] * 10 + [None]
    assert [s.occasion for s in seeds] == ["贯彻落实总体国家安全观座谈会"] * 10 + [None]
    # the seeds' dates are placeholders (20xx年x月xx日): unknown, not guessed
    assert {(s.date, s.place, s.speaker) for s in seeds} == {(None, None, None)}


HEADED = """日期：2023-04-15
地点：南宁
讲话人：张三
场合：全市国家安全工作会议
---
守好粮仓
一、把牢粮食安全主动权
要压实责任。"""


def test_a_file_header_gives_every_field_and_is_no_body_text():
    (speech,) = parse_text(HEADED, "headed.txt")
    assert (speech.title, speech.date, speech.place, speech.speaker, speech.occasion, speech.collection) == (
        "守好粮仓", "2023-04-15", "南宁", "张三", "全市国家安全工作会议", None)
    assert [b.text for b in speech.blocks] == ["一、把牢粮食安全主动权", "要压实责任。"]
    assert HEADED[speech.blocks[0].start:speech.blocks[0].end] == "一、把牢粮食安全主动权"


def test_header_keys_and_dates_in_other_spellings():
    text = "---\nDate: 2023年4月5日\nspeaker:李四\n汇编：粮食安全讲话选编\n---\n守好粮仓\n要压实责任。"
    (speech,) = parse_text(text, "a.txt")
    assert (speech.date, speech.speaker, speech.collection, speech.place) == ("2023-04-05", "李四", "粮食安全讲话选编", None)
    (speech,) = parse_text("日期：2023/4/5\n守好粮仓\n要压实责任。", "b.txt")
    assert (speech.title, speech.date) == ("守好粮仓", "2023-04-05")


@pytest.mark.parametrize("lines", [
    ["地　点：南宁", "讲话人：市长　张三", "时　间：2023年4月15日", "场　合：全市粮食安全工作会议"],
    ["地 点:南宁", "讲 话 人：市长　张三", "时 间：2023-04-15", "场合：全市粮食安全工作会议"],
])
def test_header_keys_spaced_out_to_align_their_colons_are_read_and_so_are_the_lines_beside_them(lines):
    (speech,) = parse_text("\n".join(["守好粮仓", *lines, "要压实责任。"]), "s.txt")
    assert (speech.title, speech.place, speech.speaker, speech.date, speech.occasion) == (
        "守好粮仓", "南宁", "市长 张三", "2023-04-15", "全市粮食安全工作会议")
    assert [b.text for b in speech.blocks] == ["要压实责任。"]


@pytest.mark.parametrize("lines", [
    ["【讲话人】市长　张三", "【地点】南宁", "【时间】2023年4月15日"],
    ["[讲话人] 市长 张三", "［地点］：南宁", "〔日期〕2023-04-15"],
])
def test_header_keys_in_brackets_are_read(lines):
    (speech,) = parse_text("\n".join(["在全市粮食安全工作会议上的讲话", *lines, "同志们：", "要压实责任。"]), "s.txt")
    assert (speech.speaker, speech.place, speech.date, speech.occasion) == (
        "市长 张三", "南宁", "2023-04-15", "全市粮食安全工作会议")
    assert [b.text for b in speech.blocks] == ["同志们：", "要压实责任。"]

COMPILATION_TEXT = """日期：2023-01-10
---
粮食安全发言材料汇编
目录
1.守好粮仓	1
2.端牢饭碗	3
守好粮仓
讲话人：张三
日期：2023-04-15
要压实责任。
端牢饭碗
（2022年9月1日）
要稳定面积。"""


def test_speech_headers_override_the_file_header_and_dated_lines_give_a_date():
    first, second = parse_text(COMPILATION_TEXT, "c.txt")
    assert (first.title, first.date, first.speaker, first.collection) == ("守好粮仓", "2023-04-15", "张三", "粮食安全发言材料汇编")
    assert [b.text for b in first.blocks] == ["要压实责任。"]
    # the speech's own dated line beats the file-wide date, and like a header line is no body text
    assert (second.title, second.date, second.speaker) == ("端牢饭碗", "2022-09-01", None)
    assert [b.text for b in second.blocks] == ["要稳定面积。"]


@pytest.mark.parametrize("body, date, blocks", [
    ("（2023年4月15日）\n要压实责任。", "2023-04-15", ["要压实责任。"]),
    ("要压实责任。\n2023年4月15日", "2023-04-15", ["要压实责任。"]),
    ("(2023-04-15)\n要压实责任。", "2023-04-15", ["要压实责任。"]),
    ("张三\n（2023年4月15日）\n要压实责任。\n（2023年5月1日）", "2023-04-15", ["张三", "要压实责任。", "（2023年5月1日）"]),
    ("（20xx年x月xx日）\n要压实责任。", None, ["（20xx年x月xx日）", "要压实责任。"]),
    ("（2023年2月30日）\n要压实责任。", None, ["（2023年2月30日）", "要压实责任。"]),
    ("2023年4月15日，我们召开了会议。\n要压实责任。", None, ["2023年4月15日，我们召开了会议。", "要压实责任。"]),
    ("要压实责任。\n（二〇二三年十月十五日）", "2023-10-15", ["要压实责任。"]),
    ("要压实责任。\n——二〇二三年十月十五日", "2023-10-15", ["要压实责任。"]),
    ("（2023年4月15日 星期六）\n要压实责任。", "2023-04-15", ["要压实责任。"]),
    ("要压实责任。\n二〇二三年十月", None, ["要压实责任。", "二〇二三年十月"]),
    ("2022年十月\n要压实责任。", None, ["2022年十月", "要压实责任。"]),
    # a line to the month only gives no date, and does not hide a full one
    ("（2023年10月）\n要压实责任。\n2023年10月15日", "2023-10-15", ["（2023年10月）", "要压实责任。"]),
    # neither among the first three lines nor the last
    ("一。\n二。\n三。\n（2023年4月15日）\n要压实责任。", None, ["一。", "二。", "三。", "（2023年4月15日）", "要压实责任。"]),
])
def test_dated_lines(body, date, blocks):
    (speech,) = parse_text("守好粮仓\n" + body, "d.txt")
    assert speech.date == date
    assert [b.text for b in speech.blocks] == blocks


def test_a_date_line_after_a_dash_gives_the_date_and_the_byline_under_it_is_read():
    (speech,) = parse_text("守好粮仓\n——2023年4月15日\n市委书记　张三\n要压实责任。", "s.txt")
    assert (speech.date, speech.speaker) == ("2023-04-15", "市委书记 张三")
    assert [b.text for b in speech.blocks] == ["要压实责任。"]


def test_a_speech_of_only_its_date_line_holds_no_body(tmp_path):
    (tmp_path / "d.txt").write_text("守好粮仓\n（2023年4月15日）\n", encoding="utf-8")
    assert load_corpus(tmp_path) == ([], ["d.txt: skipped, no body text"])


@pytest.mark.parametrize("written, date", [
    ("二〇二三年十月十五日", "2023-10-15"),
    ("二○二○年十二月二十日", "2020-12-20"),
    ("二〇二一年一月十日", "2021-01-10"),
    ("二〇二二年三月三十一日", "2022-03-31"),
    ("2023年十月五日", "2023-10-05"),
    ("2023年10月5号", "2023-10-05"),
])
def test_header_dates_in_chinese_numerals(written, date):
    (speech,) = parse_text(f"日期：{written}\n守好粮仓\n要压实责任。", "a.txt")
    assert speech.date == date


WRITE_IT = "write it as 日期：2023-04-15 or 日期：2023年4月15日"


@pytest.mark.parametrize("line, why", [
    ("日期：去年春天", "is not a date"),
    ("日期：2023年10月", "names no day, only the month"),
    ("日期：二〇二三年十月", "names no day, only the month"),
    ("日期：2023-10", "names no day, only the month"),
    ("日期：2023/10", "names no day, only the month"),
    ("日期：2023年2月30日", "is no real day"),
    ("日期：2023年4月15日（星期日）", "names 星期日, but 2023-04-15 is a 星期六"),
])
def test_a_header_date_it_cannot_read_leaves_the_date_unset_and_is_named_in_a_warning(tmp_path, line, why):
    # Speech.date is a full day, which `from`/`to` and sort=date compare: a month is not guessed into one
    (tmp_path / "e.txt").write_text(f"守好粮仓\n{line}\n讲话人：赵六\n---\n要压实责任。\n", encoding="utf-8")
    (speech,), warnings = load_corpus(tmp_path)
    assert (speech.title, speech.date, speech.speaker, [b.text for b in speech.blocks]) == (
        "守好粮仓", None, "赵六", ["要压实责任。"])
    assert warnings == [f"e.txt: header line {line!r} {why} — the date is left unset; {WRITE_IT}"]


def test_a_compilation_whose_header_date_is_a_month_keeps_every_speech(tmp_path):
    (tmp_path / "c.txt").write_text(COMPILATION_TEXT.replace("日期：2023-01-10", "日期：2023年1月"), encoding="utf-8")
    speeches, warnings = load_corpus(tmp_path)
    assert [(s.title, s.date) for s in speeches] == [("守好粮仓", "2023-04-15"), ("端牢饭碗", "2022-09-01")]
    assert warnings == [f"c.txt: header line '日期：2023年1月' names no day, only the month — the date is left unset; "
                        f"{WRITE_IT}"]


def test_a_dated_line_it_cannot_read_stays_text_and_is_named_in_a_warning(tmp_path):
    (tmp_path / "d.txt").write_text("守好粮仓\n要压实责任。\n（二〇二三年十月）\n", encoding="utf-8")
    (speech,), warnings = load_corpus(tmp_path)
    assert (speech.date, [b.text for b in speech.blocks]) == (None, ["要压实责任。", "（二〇二三年十月）"])
    assert warnings == ["d.txt: dated line '（二〇二三年十月）' of 《守好粮仓》 names no day, only the month — "
                        "kept as text, not read as the speech's date"]


# A speech saved with its title, then its header: the title may carry any punctuation, a subtitle or English
# words, and the lines under it say what it is.
OPENING = "各位同志，今天我们召开全市大会。\n一、压实责任\n要落实防汛责任制。\n"
OPENING_BLOCKS = ["各位同志，今天我们召开全市大会。", "一、压实责任", "要落实防汛责任制。"]


@pytest.mark.parametrize("title", ["聚焦主责主业：在全市大会上的讲话", "聚焦主责主业——在全市大会上的讲话", "坚定信念，勇毅前行",
                                   "年度工作总结。", "Remarks at the City Security Forum 城市安全论坛讲话"])


@pytest.mark.parametrize("close", ["---\n", ""])
def test_a_title_with_punctuation_or_english_words_and_its_header_under_it_is_the_title(tmp_path, title, close):
    (tmp_path / "a.txt").write_text(f"{title}\n日期：2020-12-01\n地点：南宁\n讲话人：张三\n{close}{OPENING}",
                                    encoding="utf-8")
    (speech,), warnings = load_corpus(tmp_path)
    assert warnings == []
    assert (speech.title, speech.title_inferred, speech.date, speech.place, speech.speaker) == (
        title, False, "2020-12-01", "南宁", "张三")
    assert [b.text for b in speech.blocks] == OPENING_BLOCKS


@pytest.mark.parametrize("text", [
    "日期：2020-12-01\n地点：南宁\n---\n聚焦主责主业：在全市大会上的讲话\n" + OPENING,  # the header moved to the top
    "聚焦主责主业：在全市大会上的讲话\n（2020年12月1日）\n" + OPENING,  # a date line under it
])
def test_a_title_with_a_colon_before_where_it_was_given_is_the_title_under_a_file_header_or_over_a_date(text):
    (speech,) = parse_text(text, "a.txt")
    assert (speech.title, speech.title_inferred, speech.date) == ("聚焦主责主业：在全市大会上的讲话", False, "2020-12-01")
    assert [b.text for b in speech.blocks] == OPENING_BLOCKS


def test_a_first_line_that_runs_on_is_no_title_whatever_follows_it():
    (speech,) = parse_text("同志们：\n日期：2020-12-01\n" + OPENING, "a.txt")
    assert (speech.title, speech.title_inferred, speech.date) == ("压实责任", True, None)
    assert [b.text for b in speech.blocks] == ["同志们：", "日期：2020-12-01", *OPENING_BLOCKS]


@pytest.mark.parametrize("text, blocks", [
    # a speech of one sentence that closes on its date
    ("同志们，新年好！祝大家新年快乐。\n2023年12月31日\n", ["同志们，新年好！祝大家新年快乐。"]),
    ("今天我们召开全市大会，部署今年的工作。\n（2023年12月31日）\n要压实责任。\n",
     ["今天我们召开全市大会，部署今年的工作。", "要压实责任。"]),
])
def test_a_first_line_that_ends_a_sentence_over_a_date_line_is_no_title(text, blocks):
    (speech,) = parse_text(text, "a.txt")
    assert (speech.title_inferred, speech.date, [b.text for b in speech.blocks]) == (True, "2023-12-31", blocks)


@pytest.mark.parametrize("close", ["---\n", ""])
def test_a_date_line_between_the_title_and_its_header_belongs_to_the_header(tmp_path, close):
    (tmp_path / "a.txt").write_text(f"在2023年全市风险防控大会上的讲话\n（二〇二三年五月十日）\n地点：南宁\n{close}{OPENING}",
                                    encoding="utf-8")
    (speech,), warnings = load_corpus(tmp_path)
    assert warnings == []
    assert (speech.title, speech.date, speech.place, speech.occasion) == (
        "在2023年全市风险防控大会上的讲话", "2023-05-10", "南宁", "2023年全市风险防控大会")
    assert [b.text for b in speech.blocks] == OPENING_BLOCKS


def test_a_title_its_date_line_a_header_and_dashes_start_a_speech_mid_file():
    text = "甲讲话\n讲话人：李四\n---\n正文一。\n乙讲话\n（2023年5月10日）\n——在全市大会上的讲话\n地点：南宁\n---\n" + OPENING
    first, second = parse_text(text, "a.txt")
    assert (first.title, first.speaker, [b.text for b in first.blocks]) == ("甲讲话", "李四", ["正文一。"])
    assert (second.title, second.date, second.occasion, second.place, second.speaker) == (
        "乙讲话", "2023-05-10", "全市大会", "南宁", None)
    assert [b.text for b in second.blocks] == OPENING_BLOCKS


@pytest.mark.parametrize("header, field, value", [
    ("时间：2023-04-15", "date", "2023-04-15"),
    ("時間：2023年4月15日", "date", "2023-04-15"),
    ("发言人：张三", "speaker", "张三"),
    ("日期：2023年4月15日（星期六）", "date", "2023-04-15"),
    ("日期：2023-04-15 周六", "date", "2023-04-15"),
    ("日期：二〇二三年四月十五日 礼拜六", "date", "2023-04-15"),
    ("日期：2023年4月16日（星期日）", "date", "2023-04-16"),
    ("日期：2023年4月16日 星期天", "date", "2023-04-16"),
])
def test_header_key_synonyms_and_dates_with_their_weekday(tmp_path, header, field, value):
    (tmp_path / "a.txt").write_text(f"守好粮仓\n{header}\n地点：南宁\n---\n{OPENING}", encoding="utf-8")
    (speech,), warnings = load_corpus(tmp_path)
    assert warnings == []
    assert (getattr(speech, field), speech.place, [b.text for b in speech.blocks]) == (value, "南宁", OPENING_BLOCKS)


def test_a_header_line_of_a_key_without_a_field_is_left_out_and_named_and_without_dashes_stays_text(tmp_path):
    (tmp_path / "a.txt").write_text(f"守好粮仓\n日期：2023-04-15\n主持人：王五\n---\n{OPENING}", encoding="utf-8")
    (speech,), warnings = load_corpus(tmp_path)
    assert (speech.date, [b.text for b in speech.blocks]) == ("2023-04-15", OPENING_BLOCKS)
    assert warnings == ["a.txt: header line '主持人：王五' names no field the index keeps "
                        "(日期, 时间, 地点, 讲话人, 发言人, 场合, 汇编) — left out"]
    (speech,) = parse_text(f"守好粮仓\n日期：2023-04-15\n主持人：王五\n{OPENING}", "a.txt")
    assert (speech.date, [b.text for b in speech.blocks]) == ("2023-04-15", ["主持人：王五", *OPENING_BLOCKS])
    # between two lines the block reads it is the block's, without dashes too: the speaker after it was lost
    (tmp_path / "a.txt").write_text(f"守好粮仓\n日期：2023-04-15\n主持人：王五\n讲话人：吴十\n{OPENING}", encoding="utf-8")
    (speech,), warnings = load_corpus(tmp_path)
    assert (speech.date, speech.speaker, [b.text for b in speech.blocks]) == ("2023-04-15", "吴十", OPENING_BLOCKS)
    assert warnings == ["a.txt: header line '主持人：王五' names no field the index keeps "
                        "(日期, 时间, 地点, 讲话人, 发言人, 场合, 汇编) — left out"]


def test_a_title_with_a_colon_is_never_read_as_a_header_line_of_the_file(tmp_path):
    (tmp_path / "a.txt").write_text(f"坚定信念：勇毅前行\n日期：2023-04-15\n主持人：王五\n---\n{OPENING}", encoding="utf-8")
    (speech,), warnings = load_corpus(tmp_path)
    assert (speech.title, speech.date, [b.text for b in speech.blocks]) == ("坚定信念：勇毅前行", "2023-04-15", OPENING_BLOCKS)
    assert warnings == ["a.txt: header line '主持人：王五' names no field the index keeps "
                        "(日期, 时间, 地点, 讲话人, 发言人, 场合, 汇编) — left out"]


def test_a_header_line_that_gives_a_field_again_otherwise_is_left_out_and_named(tmp_path):
    (tmp_path / "a.txt").write_text(f"守好粮仓\n日期：2023-04-15\n（2023年5月1日）\n讲话人：张三\n市委书记 李四\n"
                                    f"日期：2023年4月15日\n{OPENING}", encoding="utf-8")
    (speech,), warnings = load_corpus(tmp_path)
    assert (speech.date, speech.speaker, [b.text for b in speech.blocks]) == ("2023-04-15", "张三", OPENING_BLOCKS)
    assert warnings == [
        "a.txt: header line '（2023年5月1日）' gives the date again — left out, the block's first date ('2023-04-15') kept",
        "a.txt: header line '市委书记 李四' gives the speaker again — left out, the block's first speaker ('张三') kept"]


def test_a_month_only_date_line_is_named_in_a_warning_also_beside_the_full_date(tmp_path):
    (tmp_path / "d.txt").write_text("守好粮仓\n（2023年10月）\n要压实责任。\n2023年10月15日\n", encoding="utf-8")
    (speech,), warnings = load_corpus(tmp_path)
    assert (speech.date, [b.text for b in speech.blocks]) == ("2023-10-15", ["（2023年10月）", "要压实责任。"])
    assert warnings == ["d.txt: dated line '（2023年10月）' of 《守好粮仓》 names no day, only the month — "
                        "kept as text, not read as the speech's date"]


def test_a_date_line_in_a_header_block_it_cannot_read_is_named_as_a_header_line(tmp_path):
    (tmp_path / "d.txt").write_text(f"守好粮仓\n（2023年10月）\n地点：南宁\n{OPENING}", encoding="utf-8")
    (speech,), warnings = load_corpus(tmp_path)
    assert (speech.date, speech.place, [b.text for b in speech.blocks]) == (None, "南宁", OPENING_BLOCKS)
    assert warnings == [f"d.txt: header line '（2023年10月）' names no day, only the month — the date is left unset; "
                        f"{WRITE_IT}"]


def test_a_dated_line_with_a_weekday_the_day_is_not_stays_text_and_is_named(tmp_path):
    (tmp_path / "d.txt").write_text("守好粮仓\n（2023年4月15日 礼拜天）\n要压实责任。\n", encoding="utf-8")
    (speech,), warnings = load_corpus(tmp_path)
    assert (speech.date, [b.text for b in speech.blocks]) == (None, ["（2023年4月15日 礼拜天）", "要压实责任。"])
    assert warnings == ["d.txt: dated line '（2023年4月15日 礼拜天）' of 《守好粮仓》 names 星期天, but 2023-04-15 is a "
                        "星期六 — kept as text, not read as the speech's date"]


def test_a_long_line_opening_with_a_key_is_a_paragraph():
    line = "地点：" + "要压实责任" * 20
    (speech,) = parse_text(f"守好粮仓\n{line}", "f.txt")
    assert speech.place is None and [b.text for b in speech.blocks] == [line]


def test_sidecar_metadata(tmp_path):
    (tmp_path / "c.txt").write_text(COMPILATION_TEXT, encoding="utf-8")
    (tmp_path / "c.meta.json").write_text(json.dumps({
        "place": "南宁", "date": "2021-03-01", "collection": "二〇二三年讲话汇编",
        "speeches": {"端牢饭碗": {"speaker": "王五", "occasion": "秋粮收购工作会议"}}}), encoding="utf-8")
    (first, second), warnings = load_corpus(tmp_path)
    assert warnings == []
    # a speech's own header still beats the sidecar's file-wide fields; the sidecar beats the file header
    assert (first.date, first.place, first.speaker, first.occasion, first.collection) == (
        "2023-04-15", "南宁", "张三", None, "二〇二三年讲话汇编")
    assert (second.date, second.place, second.speaker, second.occasion) == (
        "2022-09-01", "南宁", "王五", "秋粮收购工作会议")


def test_a_sidecar_that_names_speeches_splits_a_file_without_a_toc_at_their_titles(tmp_path):
    (tmp_path / "two.txt").write_text("甲讲话\n一、总体要求\n正文一。\n\n乙讲话\n一、主要任务\n正文二。\n2021年12月1日\n",
                                      encoding="utf-8")
    (tmp_path / "two.meta.json").write_text(json.dumps({"speeches": {"甲讲话": {"speaker": "孙七"},
                                                                     "乙讲话": {"speaker": "周八"}}}), encoding="utf-8")
    speeches, warnings = load_corpus(tmp_path)
    assert warnings == []
    assert [(s.title, s.speaker, s.date, [b.text for b in s.blocks]) for s in speeches] == [
        ("甲讲话", "孙七", None, ["一、总体要求", "正文一。"]),
        ("乙讲话", "周八", "2021-12-01", ["一、主要任务", "正文二。"])]


# Two speeches saved one after the other in one file, each with its own header: the second's title, header
# lines and --- start a speech.
JOINED = """关于做好春耕生产工作的讲话
日期：2024年3月1日
讲话人：李四
---
一、抓好农资保障
要加强化肥、农药、种子等农资储备调运，确保供应充足、价格稳定。
关于做好防汛备汛工作的讲话
日期：2024年5月20日
讲话人：王五
---
防汛备汛工作必须立足于防大汛、抢大险、救大灾。
"""


def test_a_title_with_its_own_header_and_dashes_starts_a_speech_mid_file(tmp_path):
    (tmp_path / "joined.txt").write_text(JOINED, encoding="utf-8")
    speeches, warnings = load_corpus(tmp_path)
    assert warnings == []
    assert [(s.title, s.speaker, s.date, [b.text for b in s.blocks]) for s in speeches] == [
        ("关于做好春耕生产工作的讲话", "李四", "2024-03-01",
         ["一、抓好农资保障", "要加强化肥、农药、种子等农资储备调运，确保供应充足、价格稳定。"]),
        ("关于做好防汛备汛工作的讲话", "王五", "2024-05-20", ["防汛备汛工作必须立足于防大汛、抢大险、救大灾。"])]
    assert speeches[0].id != speeches[1].id


def test_a_title_with_a_byline_of_where_and_who_starts_a_speech_in_a_collection_without_a_toc():
    # a collection printed without 目录 or ---: the second speech was the first's body, cited under its speaker
    text = ("老干部工作会议讲话选编\n做好新时代离退休干部工作\n——在全市老干部工作会议上的讲话\n市委组织部部长　黄一鸣\n"
            "（2024年5月20日）\n全市现有离退休干部一万零二百人。\n凝心聚力做好关心下一代工作\n"
            "——在全市关工委工作会议上的讲话\n市关工委主任　石建国\n（2024年5月21日）\n全市建成关工委组织一千三百四十个。\n")
    speeches = parse_text(text, "c.txt")
    assert [(s.title, s.speaker, s.date, s.occasion, [b.text for b in s.blocks]) for s in speeches] == [
        ("做好新时代离退休干部工作", "市委组织部部长 黄一鸣", "2024-05-20", "全市老干部工作会议", ["全市现有离退休干部一万零二百人。"]),
        ("凝心聚力做好关心下一代工作", "市关工委主任 石建国", "2024-05-21", "全市关工委工作会议",
         ["全市建成关工委组织一千三百四十个。"])]
    # a speech quoting another's title, where and when it was given, but not who gave it: no new speech
    (speech,) = parse_text("守好粮仓\n要压实责任。\n凝心聚力做好关心下一代工作\n——在全市关工委工作会议上的讲话\n"
                           "（2024年5月21日）\n要落实。\n", "s.txt")
    assert speech.title == "守好粮仓"


def test_a_title_of_parallel_clauses_with_its_header_or_byline_starts_a_speech_mid_file():
    joined = JOINED.replace("关于做好防汛备汛工作的讲话", "做好防汛备汛，守牢安全底线")
    assert [(s.title, s.speaker, s.date) for s in parse_text(joined, "joined.txt")] == [
        ("关于做好春耕生产工作的讲话", "李四", "2024-03-01"), ("做好防汛备汛，守牢安全底线", "王五", "2024-05-20")]
    text = ("守好粮仓\n要压实责任。\n凝心聚力，奋勇争先\n——在全市关工委工作会议上的讲话\n市关工委主任　石建国\n"
            "全市建成关工委组织一千三百四十个。\n")
    assert [(s.title, s.speaker, s.occasion, [b.text for b in s.blocks]) for s in parse_text(text, "c.txt")] == [
        ("守好粮仓", None, None, ["要压实责任。"]),
        ("凝心聚力，奋勇争先", "市关工委主任 石建国", "全市关工委工作会议", ["全市建成关工委组织一千三百四十个。"])]
    # quoted with where it was given but not who gave it, or over header lines without ---: no new speech
    for quoted in ("——在全市关工委工作会议上的讲话", "日期：2024年5月20日"):
        (speech,) = parse_text(f"守好粮仓\n要压实责任。\n凝心聚力，奋勇争先\n{quoted}\n要落实。\n", "s.txt")
        assert (speech.title, "\n".join(b.text for b in speech.blocks)) == (
            "守好粮仓", f"要压实责任。\n凝心聚力，奋勇争先\n{quoted}\n要落实。")


@pytest.mark.parametrize("inside", [
    "会议通知\n日期：2024年5月20日\n地点：市委小礼堂",  # header lines under a title-like line, no ---
    "会议通知如下。\n日期：2024年5月20日\n---",  # header lines and ---, under a sentence, not a title
])
def test_header_lines_inside_a_body_without_a_title_and_dashes_stay_text(inside):
    text = f"关于做好防汛备汛工作的讲话\n讲话人：王五\n---\n一、压实责任\n{inside}\n要落实防汛责任制。"
    (speech,) = parse_text(text, "one.txt")
    assert (speech.title, speech.speaker, speech.date) == ("关于做好防汛备汛工作的讲话", "王五", None)
    assert [b.text for b in speech.blocks] == ["一、压实责任", *inside.split("\n"), "要落实防汛责任制。"]


IGNORED = " — c.meta.json ignored, c.txt indexed without its metadata"


@pytest.mark.parametrize("sidecar, warning", [
    ("{not json", "c.meta.json: unreadable metadata (Expecting property name enclosed in double quotes: "
                  "line 1 column 2 (char 1))" + IGNORED),
    ('{"speaker": 3}', "c.meta.json: speaker must be a non-empty string or null" + IGNORED),
    ('{"author": "x"}', "c.meta.json: unknown metadata field author — use date, place, speaker, occasion, "
                        "collection and speeches" + IGNORED),
    ('{"speeches": {"没有这篇": {"speaker": "x"}}}', "c.txt: its metadata names no speech titled '没有这篇'" + IGNORED),
    ("[1]", "c.meta.json: metadata must be a JSON object" + IGNORED),
])
def test_a_bad_sidecar_is_ignored_with_a_warning_and_the_text_indexed(tmp_path, sidecar, warning):
    (tmp_path / "c.txt").write_text(COMPILATION_TEXT, encoding="utf-8")
    (tmp_path / "c.meta.json").write_text(sidecar, encoding="utf-8")
    speeches, warnings = load_corpus(tmp_path)
    assert warnings == [warning]
    assert speeches == parse_text(COMPILATION_TEXT, "c.txt")  # the text's own metadata, none of the sidecar's
    assert [(s.title, s.date, s.speaker, s.place) for s in speeches] == [
        ("守好粮仓", "2023-04-15", "张三", None), ("端牢饭碗", "2022-09-01", None, None)]


@pytest.mark.parametrize("date, why", [("2023-10", "names no day, only the month"), ("2023-13-01", "is no real day"),
                                       ("去年", "is not a date")])
def test_a_sidecar_date_it_cannot_hold_is_left_out_and_its_other_fields_used(tmp_path, date, why):
    (tmp_path / "c.txt").write_text(COMPILATION_TEXT, encoding="utf-8")
    (tmp_path / "c.meta.json").write_text(json.dumps({"place": "南宁", "speeches": {"端牢饭碗": {"date": date}}}),
                                          encoding="utf-8")
    speeches, warnings = load_corpus(tmp_path)
    assert warnings == [f"c.meta.json (端牢饭碗): date {date!r} {why} — the date is left unset, the other fields "
                        "used; write it as 2023-04-15"]
    assert [(s.title, s.date, s.place) for s in speeches] == [("守好粮仓", "2023-04-15", "南宁"),
                                                             ("端牢饭碗", "2022-09-01", "南宁")]


def test_metadata_is_spaced_alike_from_a_sidecar_a_header_and_a_byline(tmp_path):
    text = ("讲话人：市长　　周志刚\n地点：南宁市 \u3000青秀区\n---\n守好粮仓\n要压实责任。\n"
            "端牢饭碗\n——在全市秋粮收购工作会议上的讲话\n要稳定面积。\n")
    (tmp_path / "c.txt").write_text(text, encoding="utf-8")
    (tmp_path / "c.meta.json").write_text(json.dumps({
        "collection": "\u3000二〇二三年　讲话汇编",
        "speeches": {"守好粮仓": {"occasion": "全市 \t 粮食安全工作会议"}, "端牢饭碗": {"speaker": "市长　周志刚"}}}),
        encoding="utf-8")
    (header, byline), warnings = load_corpus(tmp_path)
    assert warnings == []
    # each whitespace run one space, trimmed, as the byline 市长　周志刚 has always been read
    assert (header.speaker, header.place, header.occasion, header.collection) == (
        "市长 周志刚", "南宁市 青秀区", "全市 粮食安全工作会议", "二〇二三年 讲话汇编")
    assert (byline.speaker, byline.place, byline.occasion, byline.collection) == (
        "市长 周志刚", "南宁市 青秀区", "全市秋粮收购工作会议", "二〇二三年 讲话汇编")


def test_zero_width_marks_are_no_part_of_a_title_or_a_value_and_the_text_keeps_them():
    text = "在全县文旅大会上的讲\u200b话\n讲话人：县长\u200b\u3000冯志强\n地点：\ufeff鹿鸣\u2060湖\n---\n全\u200b县接待游客三十六万人次。"
    (speech,) = parse_text(text, "z.txt")
    assert (speech.title, speech.speaker, speech.place, speech.occasion) == (
        "在全县文旅大会上的讲话", "县长 冯志强", "鹿鸣湖", "全县文旅大会")
    assert speech.id == hashlib.sha1("z.txt\n在全县文旅大会上的讲话".encode()).hexdigest()[:12]
    assert [b.text for b in speech.blocks] == ["全\u200b县接待游客三十六万人次。"]


@pytest.mark.parametrize("blank, read", [
    ("\u200b", "守好粮仓\n一、总体要求\n要压实责任。"),
    ("\ufeff", "守好粮仓\n一、总体要求\n要压实责任。"),
    (" \u200c\u200d\u3000\u2060 ", "守好粮仓\n一、总体要求\n要压实责任。"),
    # the marker keeps its line in the text; the zero-width mark it cuts off is no line of its own
    ("##paidbegin##\u200b", "守好粮仓\n一、总体要求\n##paidbegin##\u200b\n要压实责任。"),
], ids=["zero-width space", "BOM", "marks among whitespace", "after a paid-content marker"])
def test_a_line_of_nothing_but_zero_width_marks_is_a_blank_line(blank, read):
    # text pasted from web pages and Word holds such lines: a reader sees an empty line, not a paragraph
    text = f"守好粮仓\n一、总体要求\n{blank}\n要压实责任。\n"
    assert read_corpus_file(text.encode(), "z.txt") == read
    for given in (text, read):
        (speech,) = parse_text(given, "z.txt")
        assert [b.text for b in speech.blocks] == ["一、总体要求", "要压实责任。"]


def test_a_paragraph_wrapped_across_lines_is_one_block_again():
    wrapped = "要坚持把维护国家政治安全摆在首位，严密防范\n和坚决打击各种渗透颠覆破坏活动。\n同志们：\n短的一行\n下一段。\n"
    (speech,) = parse_text("守好粮仓\n一、总体要求\n" + wrapped, "w.txt")
    text = decode(("守好粮仓\n一、总体要求\n" + wrapped).encode(), "w.txt")
    assert [b.text for b in speech.blocks] == [
        "一、总体要求", "要坚持把维护国家政治安全摆在首位，严密防范\n和坚决打击各种渗透颠覆破坏活动。", "同志们：", "短的一行",
        "下一段。"]
    assert all(text[b.start:b.end] == b.text for b in speech.blocks)


def test_table_rows_an_english_sentences_end_and_a_remark_in_brackets_end_their_lines():
    lines = ["今年一季度全市主要经济指标完成情况如下", "地区生产总值\t亿元\t612.4\t5.8%", "社会消费品零售总额\t亿元\t201.3\t6.5%",
             "从表中可以看出，投资增速低于全省平均水平。", "Freight through the port rose 27% year on year.",
             "下一步要用好区域全面经济伙伴关系协定规则。", "（数据截至二〇二四年九月底，下同，均为快报数）", "客运量同比下降百分之三点一。"]
    (speech,) = parse_text("\n".join(["守好粮仓", *lines]), "t.txt")
    assert [b.text for b in speech.blocks] == lines


@pytest.mark.parametrize("line, next_line, wrapped", [
    ("今年一季度全市主要经济指标完成情况如下", "地区生产总值\t亿元\t612.4\t5.8%", False),
    ("下穿通道 | 五月底前 | 市政交通部门牵头", "完成易涝点整治。", False),  # a Word table's row
    ("Freight through the port rose 27% year on year.", "下一步要用好协定规则。", False),
    ("（数据截至二〇二四年九月底，下同，均为快报数）", "客运量同比下降百分之三点一。", False),
    ("我们与德国企业签署了合作备忘录，总投资额达到12.", "5亿美元。", True),  # a decimal point is no full stop
    ("要压实粮食安全党政同责，稳定粮食播种面积，切实", "提高粮食单产水平。", True),
])
def test_a_table_row_an_english_full_stop_or_a_remark_is_no_wrap_and_print_still_wraps(line, next_line, wrapped):
    assert wraps(line, next_line) is wrapped


@pytest.mark.parametrize("toc", ["甲讲话\t1\n乙讲话，努力前行\t5\n", "甲讲话……1\n乙讲话，努力前行……5\n",
                                 "甲讲话\n乙讲话，努力前行\n"])
def test_a_toc_without_numbers_ends_where_its_first_title_comes_again(toc):
    text = "发言材料汇编\n目录\n" + toc + "甲讲话\n正文一。\n乙讲话，努力前行\n正文二。\n"
    assert [(s.title, [b.text for b in s.blocks]) for s in parse_text(text, "c.txt")] == [
        ("甲讲话", ["正文一。"]), ("乙讲话，努力前行", ["正文二。"])]


def test_a_toc_head_whose_entries_never_come_again_is_no_title():
    (speech,) = parse_text("目录\n甲讲话\n乙讲话\n正文一。\n", "c.txt")
    assert speech.title_inferred and speech.title == "甲讲话"


def test_a_byline_under_the_title_gives_the_occasion_and_speaker_and_is_no_passage():
    text = "坚定不移贯彻总体国家安全观\n——在全市国家安全工作会议上的讲话\n市委书记　张三\n（2023年4月15日）\n同志们：\n今天召开会议。\n"
    (speech,) = parse_text(text, "s.txt")
    assert (speech.occasion, speech.speaker, speech.date) == ("全市国家安全工作会议", "市委书记 张三", "2023-04-15")
    assert [b.text for b in speech.blocks] == ["同志们：", "今天召开会议。"]
    # a header line says it more specifically, and wins
    (headed,) = parse_text(text.replace("\n——", "\n讲话人：李四\n---\n——", 1), "s.txt")
    assert (headed.speaker, headed.occasion) == ("李四", "全市国家安全工作会议")


def test_a_line_like_a_byline_in_the_body_stays_text():
    (speech,) = parse_text("守好粮仓\n一、保障粮食安全\n——在全县会议上的讲话\n县委书记 张三\n", "s.txt")
    assert speech.occasion is None and speech.speaker is None
    assert [b.text for b in speech.blocks] == ["一、保障粮食安全", "——在全县会议上的讲话", "县委书记 张三"]


GIVEN_AT = "在全县安全生产约谈会上的讲话\n同志们：\n今天约谈安全生产工作滞后的乡镇和部门。\n"


def test_a_title_that_says_where_it_was_given_gives_the_occasion_unless_a_byline_or_header_names_one():
    (speech,) = parse_text(GIVEN_AT, "t.txt")
    assert (speech.title, speech.occasion) == ("在全县安全生产约谈会上的讲话", "全县安全生产约谈会")
    assert [b.text for b in speech.blocks] == ["同志们：", "今天约谈安全生产工作滞后的乡镇和部门。"]
    # as the byline reads it: 发言, 总结, 在…中的
    (speech,) = parse_text(GIVEN_AT.replace("约谈会上的讲话", "约谈会中的总结发言"), "t.txt")
    assert speech.occasion == "全县安全生产约谈会"
    (speech,) = parse_text(GIVEN_AT.replace("在全县安全生产约谈会上的讲话", "关于安全生产约谈工作的讲话"), "t.txt")
    assert speech.occasion is None
    # or as its subtitle, after a colon or a dash
    for title in ("压实责任：在全县安全生产约谈会上的讲话", "压实责任——在全县安全生产约谈会上的讲话"):
        (speech,) = parse_text(GIVEN_AT.replace("在全县安全生产约谈会上的讲话", title), "t.txt")
        assert (speech.title, speech.occasion) == (title, "全县安全生产约谈会")
    for under_title, occasion in (("——在全县安全生产约谈会（第二批）上的讲话", "全县安全生产约谈会（第二批）"),
                                  ("场合：全县安全生产工作专题约谈会", "全县安全生产工作专题约谈会")):
        (speech,) = parse_text(GIVEN_AT.replace("\n", f"\n{under_title}\n", 1), "t.txt")
        assert speech.occasion == occasion


def test_a_sidecar_occasion_beats_the_titles_and_the_titles_beats_the_compilations(tmp_path):
    (tmp_path / "t.txt").write_text(GIVEN_AT, encoding="utf-8")
    (tmp_path / "t.meta.json").write_text(json.dumps({"occasion": "全县安全生产约谈会议"}), encoding="utf-8")
    assert [s.occasion for s in load_corpus(tmp_path)[0]] == ["全县安全生产约谈会议"]
    text = ("关于在全县安全生产工作会议上的发言材料汇编\n目录\n1.在全县安全生产约谈会上的讲话\t1\n2.守好安全底线\t3\n"
            + GIVEN_AT + "守好安全底线\n要压实责任。\n")
    assert [(s.title, s.occasion) for s in parse_text(text, "c.txt")] == [
        ("在全县安全生产约谈会上的讲话", "全县安全生产约谈会"), ("守好安全底线", "全县安全生产工作会议")]


# A library printed in traditional characters, as OpenCC's s2hk writes the seeds for a reader in Hong Kong:
# every rule reads a line as index/simplified.py folds it, and every value stays as the file prints it.
TO_HONG_KONG = opencc.OpenCC("s2hk").convert
HEADED_TRADITIONAL = """守好糧倉
日期：2023年5月4日
地點：香港
講話人：陳大文
場合：全港糧食安全工作會議
彙編：糧食安全講話選編
---
一、把牢糧食安全主動權
要壓實責任。
端牢飯碗
講話人：李四
---
要穩定面積。"""


def test_a_traditional_header_after_a_title_gives_every_field_as_printed_and_is_no_body_text(tmp_path):
    (tmp_path / "h.txt").write_text(HEADED_TRADITIONAL, encoding="utf-8")
    (first, second), warnings = load_corpus(tmp_path)
    assert warnings == []
    assert (first.title, first.date, first.place, first.speaker, first.occasion, first.collection) == (
        "守好糧倉", "2023-05-04", "香港", "陳大文", "全港糧食安全工作會議", "糧食安全講話選編")
    assert [b.text for b in first.blocks] == ["一、把牢糧食安全主動權", "要壓實責任。"]
    # a title, its header and the --- further down start the next speech, as in simplified
    assert (second.title, second.speaker, [b.text for b in second.blocks]) == ("端牢飯碗", "李四", ["要穩定面積。"])
    assert all(HEADED_TRADITIONAL[b.start:b.end] == b.text for s in (first, second) for b in s.blocks)


def test_a_traditional_byline_gives_the_occasion_and_speaker_as_printed_and_is_no_passage(tmp_path):
    (tmp_path / "s.txt").write_text("堅定不移貫徹總體國家安全觀\n——在全市國家安全工作會議上的講話\n市委書記　張三\n"
                                    "（2023年4月15日）\n同志們：\n今天召開會議。\n", encoding="utf-8")
    (speech,), warnings = load_corpus(tmp_path)
    assert (speech.occasion, speech.speaker, speech.date) == ("全市國家安全工作會議", "市委書記 張三", "2023-04-15")
    assert [b.text for b in speech.blocks] == ["同志們：", "今天召開會議。"]
    assert warnings == []


def test_advertisements_in_traditional_are_left_out_and_named_as_printed_and_prose_is_kept(tmp_path):
    ads, prose = [TO_HONG_KONG(line) for line in ADVERTISEMENTS], [TO_HONG_KONG(line) for line in AD_WORDS_IN_PROSE]
    assert TO_HONG_KONG(SEED_ADS[2]).startswith("【噠噠代筆】——原創高質量保障、高度保密，各類代筆（潤筆）")
    lines = [line for pair in zip_longest(prose, ads) for line in pair if line]  # an ad after each paragraph
    (tmp_path / "ad.txt").write_text("\n".join(["守好糧倉", *lines]), encoding="utf-8")
    (speech,), warnings = load_corpus(tmp_path)
    assert [b.text for b in speech.blocks] == prose
    assert warnings == [f"ad.txt: left out as an advertisement: {ad if len(ad) <= 30 else ad[:30] + '…'!r}"
                        for ad in lines if ad in ads]


def test_a_traditional_compilation_title_and_speech_title_name_the_occasion_as_printed(tmp_path):
    collection = "關於在貫徹落實總體國家安全觀座談會上的發言材料彙編"
    (tmp_path / "c.txt").write_text(f"{collection}\n目錄\n1.守好糧倉\t1\n2.在全市國家安全工作會議上的講話\t3\n"
                                    "守好糧倉\n要壓實責任。\n在全市國家安全工作會議上的講話\n要守好邊疆。\n", encoding="utf-8")
    speeches, warnings = load_corpus(tmp_path)
    assert warnings == []
    assert [(s.title, s.occasion, s.collection, [b.text for b in s.blocks]) for s in speeches] == [
        ("守好糧倉", "貫徹落實總體國家安全觀座談會", collection, ["要壓實責任。"]),
        ("在全市國家安全工作會議上的講話", "全市國家安全工作會議", collection, ["要守好邊疆。"])]


def test_a_traditional_reprint_reads_its_ad_series_header_byline_and_points_as_in_simplified(tmp_path):
    printed = [TO_HONG_KONG(line) for line in [*REPRINT, "最后，要压实责任。"]]
    (tmp_path / "a.txt").write_text("\n".join(printed), encoding="utf-8")
    (speech,), warnings = load_corpus(tmp_path)
    assert (speech.title, speech.collection, speech.occasion, speech.speaker, speech.date) == (
        "堅持人民至上生命至上　堅決守牢安全生產底線", "安全生產類講話精選（第12期）", "全縣安全生產工作會議",
        "縣委書記 王建國", "2024-05-08")
    assert [(b.kind, b.text) for b in speech.blocks] == [
        ("paragraph", "同志們："), ("paragraph", "今天召開全縣安全生產工作會議，主要任務是分析形勢、壓實責任。"),
        ("point", "最後，要壓實責任。")]
    assert warnings == [f"a.txt: left out as an advertisement: {printed[0]!r}"]


def test_traditional_page_furniture_is_left_out_and_named_as_printed(tmp_path):
    (tmp_path / "p.txt").write_text(TO_HONG_KONG(PRINTED), encoding="utf-8")
    (speech,), warnings = load_corpus(tmp_path)
    assert [b.text for b in speech.blocks] == ["要壓實糧食安全黨政同責，穩定糧食播種面積，切實\n提高糧食單產水平。",
                                               "一、把牢糧食安全主動權", "要穩定面積。", "收尾。"]
    assert warnings == ["p.txt: left out as page furniture: '內部資料 注意保存' ×3, '— 12 —', '- 13 -', '—14—', "
                        "'第 15 頁', '16'"]


@pytest.mark.parametrize("config", ["s2t", "s2hk", "s2tw"])
def test_the_seeds_printed_in_traditional_parse_as_the_seeds_do(tmp_path, seeds, config):
    convert = opencc.OpenCC(config).convert
    for path in SEEDS.glob("*.txt"):
        (tmp_path / path.name).write_text(convert(path.read_text(encoding="utf-8")), encoding="utf-8")
    speeches, warnings = load_corpus(tmp_path)

    # structure, titles and fields: the blocks' words may differ where the fold cannot tell (OpenCC writes
    # 瞭解 for 了解, and s2tw 沿著 for 沿着, which fold to 瞭解 and 沿著: index/simplified.py)
    def read_as_simplified(speech):
        return (simplified(speech.title), speech.title_inferred, speech.start, speech.end,
                [(b.kind, b.start, b.end, len(b.section)) for b in speech.blocks],
                {name: simplified(value) for name in SPEECH_METADATA if (value := getattr(speech, name))})

    assert [read_as_simplified(s) for s in speeches] == [read_as_simplified(s) for s in seeds]
    assert [simplified(warning) for warning in warnings] == SEED_WARNINGS
    # the values are the file's own characters, at the file's own offsets
    assert speeches[0].collection == convert(COLLECTION) != COLLECTION
    text = read_corpus_file((tmp_path / COMPILATION).read_bytes(), COMPILATION)
    assert all(text[b.start:b.end] == b.text for s in speeches if s.source == COMPILATION for b in s.blocks)
