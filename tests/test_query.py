"""The query syntax: phrases, exclusions, title filters, free text, and the errors it reports."""
from __future__ import annotations

import pytest
from hypothesis import assume, example, given
from hypothesis import strategies as st

from index.errors import BadQuery, QuerySyntaxError
from index.query import (CLOSING_QUOTE, CLOSING_QUOTES, INVISIBLE_MARKS, OPENING_QUOTES, NamedSpeechQuestion,
                         ParsedQuery, listed_parts, named_speech_question, parse_query, phrase_parts,
                         quoted_items)


@pytest.mark.parametrize("query, expected", [
    ("如何保障粮食安全", ParsedQuery(text="如何保障粮食安全")),
    ('"保交楼"', ParsedQuery(text="", phrases=("保交楼",))),
    ("“保交楼”", ParsedQuery(text="", phrases=("保交楼",))),
    ('“保 交\u3000楼"', ParsedQuery(text="", phrases=("保交楼",))),
    ("如何做好“保交楼”工作", ParsedQuery(text="如何做好 工作", phrases=("保交楼",))),
    ("「保交楼」 『稳民生』 ＂保交房＂", ParsedQuery(text="", phrases=("保交楼", "稳民生", "保交房"))),
    # Taiwan and Hong Kong print's quotes, and vertical print's copied
    ("〝保交楼稳民生〞 ﹁两个维护﹂ ﹃两个确立﹄", ParsedQuery(text="", phrases=("保交楼稳民生", "两个维护", "两个确立"))),
    ('"保交楼"-"粮食"', ParsedQuery(text="", phrases=("保交楼",), excluded=("粮食",))),
    ('“保交楼”-粮食', ParsedQuery(text="", phrases=("保交楼",), excluded=("粮食",))),
    ('"保交楼"标题:晋中', ParsedQuery(text="", phrases=("保交楼",), titles=("晋中",))),
    ('房地产 "保交楼" "稳民生"', ParsedQuery(text="房地产", phrases=("保交楼", "稳民生"))),
    ('"保交楼" "保交楼"', ParsedQuery(text="", phrases=("保交楼",))),
    ("粮食安全 -进口", ParsedQuery(text="粮食安全", excluded=("进口",))),
    ('粮食安全 -"进口 大豆"', ParsedQuery(text="粮食安全", excluded=("进口大豆",))),
    ("-进口“粮食”", ParsedQuery(text="", phrases=("粮食",), excluded=("进口",))),
    ("COVID-19 e-commerce", ParsedQuery(text="COVID-19 e-commerce")),
    ("粮食-进口", ParsedQuery(text="粮食-进口")),
    ("增长 - 下降", ParsedQuery(text="增长 - 下降")),
    ("title:安全 风险", ParsedQuery(text="风险", titles=("安全",))),
    ("-title:晋中 风险 -标题：「壮乡 首府」", ParsedQuery(text="风险", excluded_titles=("晋中", "壮乡首府"))),
    ("標題：晉中 防範風險", ParsedQuery(text="防範風險", titles=("晉中",))),  # typed in traditional characters
    ("标题：晋中 风险", ParsedQuery(text="风险", titles=("晋中",))),
    ("TITLE:首都", ParsedQuery(text="", titles=("首都",))),
    ('标题:"国家 安全" 风险', ParsedQuery(text="风险", titles=("国家安全",))),
    ("subtitle:x", ParsedQuery(text="subtitle:x")),
    ('标题:晋中 "总体国家安全观" -首都 防范风险',
     ParsedQuery(text="防范风险", phrases=("总体国家安全观",), excluded=("首都",), titles=("晋中",))),
    ("  多个   空格  ", ParsedQuery(text="多个 空格")),
    ("", ParsedQuery(text="")),
])
def test_parse_query(query, expected):
    assert parse_query(query) == expected


@pytest.mark.parametrize("query, expected", [
    # quotes of another kind inside a phrase are its text: the 提法 itself carries them
    ("「深刻领悟“两个确立”的决定性意义」", ParsedQuery(text="", phrases=("深刻领悟“两个确立”的决定性意义",))),
    ('"深刻领悟“两个确立”的决定性意义"', ParsedQuery(text="", phrases=("深刻领悟“两个确立”的决定性意义",))),
    ("＂坚决做到“两个维护”＂", ParsedQuery(text="", phrases=("坚决做到“两个维护”",))),
    ("『坚决做到“两个维护”』", ParsedQuery(text="", phrases=("坚决做到“两个维护”",))),
    ("“坚决做到「两个维护」”", ParsedQuery(text="", phrases=("坚决做到「两个维护」",))),
    ('「坚持"两个毫不动摇"」', ParsedQuery(text="", phrases=('坚持"两个毫不动摇"',))),
    ('"坚持＂两个毫不动摇＂"', ParsedQuery(text="", phrases=("坚持＂两个毫不动摇＂",))),
    ('「他说"好」', ParsedQuery(text="", phrases=('他说"好',))),
    ("什么是「坚决做到“两个维护”」的要求", ParsedQuery(text="什么是 的要求", phrases=("坚决做到“两个维护”",))),
    ("“两个确立”“两个维护”", ParsedQuery(text="", phrases=("两个确立", "两个维护"))),
    # curly and corner quotes open and close with different marks, so the same kind nests
    ("“坚决做到“两个维护””", ParsedQuery(text="", phrases=("坚决做到“两个维护”",))),
    ("「忠诚捍卫「两个确立」、坚决做到「两个维护」」", ParsedQuery(text="", phrases=("忠诚捍卫「两个确立」、坚决做到「两个维护」",))),
    ("『学习『讲话』精神』 安全", ParsedQuery(text="安全", phrases=("学习『讲话』精神",))),
    # exclusions and titles follow the same rules
    ("安全 -「坚决做到“两个维护”」", ParsedQuery(text="安全", excluded=("坚决做到“两个维护”",))),
    ('"国家安全"-“坚决做到“两个维护””', ParsedQuery(text="", phrases=("国家安全",), excluded=("坚决做到“两个维护”",))),
    ('-"深刻领悟“两个确立”的决定性意义" 安全', ParsedQuery(text="安全", excluded=("深刻领悟“两个确立”的决定性意义",))),
    ("标题:「学习“两个确立”」 安全", ParsedQuery(text="安全", titles=("学习“两个确立”",))),
    # a quote whose own closing quote never comes takes the first one of another kind (input methods mix
    # them), skipping those that close a quote opened inside it
    ('“保交楼" 房地产', ParsedQuery(text="房地产", phrases=("保交楼",))),
    ('"保交楼” 房地产', ParsedQuery(text="房地产", phrases=("保交楼",))),
    ('“保交楼" “稳民生”', ParsedQuery(text="", phrases=("保交楼", "稳民生"))),
    ('“坚决做到「两个维护」" 要求', ParsedQuery(text="要求", phrases=("坚决做到「两个维护」",))),
    # a closing quote typed for both quotes as " does, where its twin follows before a space or another quote
    ("”保交楼”", ParsedQuery(text="", phrases=("保交楼",))),
    ("如何做好”保交楼”工作", ParsedQuery(text="如何做好 工作", phrases=("保交楼",))),
    ("”保交楼”-”粮食” 标题:」晋中」", ParsedQuery(text="", phrases=("保交楼",), excluded=("粮食",), titles=("晋中",))),
    # else it stays a word's, as a stray closing quote in free text always was
    ("两个维护”是什么", ParsedQuery(text="两个维护”是什么")),
    ("两个维护” 是什么”", ParsedQuery(text="两个维护” 是什么”")),
    ("””", ParsedQuery(text="””")),
])
def test_a_quote_closes_at_its_own_closing_quote(query, expected):
    assert parse_query(query) == expected


@pytest.mark.parametrize("query, message", [
    ('"保交楼', 'unclosed quote " at character 1 of q (…"保交楼) — add the closing quote or remove it'),
    ("粮食 “保交楼", "unclosed quote “ at character 4 of q (…“保交楼) — add the closing quote or remove it"),
    ('"保交楼" -"进口', 'unclosed quote " at character 8 of q (…"进口) — add the closing quote or remove it'),
    ('粮食 ""', 'empty phrase "" at character 4 of q — put the exact wording between the quotes or remove them'),
    ("“ ”", "empty phrase “ ” at character 1 of q — put the exact wording between the quotes or remove them"),
    ("哪篇用“……”", "empty phrase “……” at character 4 of q — put the exact wording between the quotes or remove them"),
    ("「深刻领悟“两个确立”的重大意义", "unclosed quote 「 at character 1 of q (…「深刻领悟“两个确立”的) — add the closing "
                           "quote or remove it"),
    ("“坚决做到“两个维护”", "unclosed quote “ at character 1 of q (…“坚决做到“两个维护”) — add the closing quote or "
                     "remove it"),
    ("安全 -「坚决做到“两个维护”", "unclosed quote 「 at character 5 of q (…「坚决做到“两个维护”) — add the closing quote "
                         "or remove it"),
    # the closing mark typed first: said to look reversed
    ("”保交楼“", "unclosed quote “ at character 5 of q (…“) — the quotes look reversed: write “…”"),
    # the opening mark typed for both: said so, where no closing mark follows (“ nests, so no pair is guessed)
    ("“保交楼“", "unclosed quote “ at character 1 of q (…“保交楼“) — both quotes are opening ones: write “…”"),
    # the ASCII quotes pair with each other first: the second opens nothing, the last is left open
    ('"保交楼” "稳民生"', 'unclosed quote " at character 11 of q (…") — add the closing quote or remove it'),
    ("标题： 安全", "标题： at character 1 of q has no value — write it with the words the title must "
                  "contain, e.g. 标题：安全"),
])
def test_syntax_errors_say_what_and_where(query, message):
    with pytest.raises(QuerySyntaxError) as caught:
        parse_query(query)
    assert str(caught.value) == message
    assert isinstance(caught.value, BadQuery)


@pytest.mark.parametrize("query, kind, at, part, shown", [
    ("如何做好「保交楼工作", "unclosed_quote", 5, "「", "「保交楼工作"),
    ("安全 “……”", "empty_phrase", 4, "“……”", "“……”"),
    ("粮食 -标题：", "no_value", 5, "标题：", "标题："),
    # every piece is matched on its own: a handful is a 提法 check, hundreds cost every other reader
    ('"' + "，…" * 30 + '，"', "too_many_parts", 1, "31", ""),
    (" ".join(f"-词{i}" for i in range(31)), "too_many_parts", 1, "31", ""),
])
def test_a_syntax_error_says_what_is_wrong_for_others_to_word(query, kind, at, part, shown):
    with pytest.raises(QuerySyntaxError) as caught:
        parse_query(query)
    assert (caught.value.kind, caught.value.at, caught.value.part, caught.value.shown) == (kind, at, part, shown)
    assert caught.value.code == "query_syntax"


@pytest.mark.parametrize("phrase, parts", [
    ("保交楼", ("保交楼",)),
    ("坚持……是做好 边疆……的根本原则", ("坚持", "是做好边疆", "的根本原则")),
    ("前提在于…关键在于...重点在于⋯⋯", ("前提在于", "关键在于", "重点在于")),
    ("……必须把", ("必须把",)),
    ("1.5亿..", ("1.5亿..",)),  # two dots are no ellipsis
    ("坚持。。。是做好。。。的根本原则", ("坚持", "是做好", "的根本原则")),
    ("安全。。", ("安全。。",)),
    ("……", ()),
])
def test_an_ellipsis_splits_a_phrase_into_pieces(phrase, parts):
    assert phrase_parts(phrase) == parts


@pytest.mark.parametrize("phrases, items", [
    (("前提在于、关键在于、重点在于",), ["前提在于", "关键在于", "重点在于"]),
    (("根本原则，中心任务;最终目的", "重要法宝"), ["根本原则", "中心任务", "最终目的", "重要法宝"]),
    (("保交楼", "保交楼、粮食储备"), ["保交楼", "粮食储备"]),  # each item once, in order
    (("一、二、三",), ["一、二、三"]),  # one-character items would match nearly every passage
    (("一、保交楼",), ["一、保交楼"]),  # a numbered heading is one item, not a list
    (("坚持……是做好……的根本原则",), ["坚持……是做好……的根本原则"]),
    ((), []),
])
def test_a_quoted_list_counts_as_its_items(phrases, items):
    assert quoted_items(phrases) == items


@pytest.mark.parametrize("query, unquoted, relaxed", [
    ('What is the "five-link" mechanism?', "What is the five-link mechanism?", "What is the five-link mechanism?"),
    ("什么是“两个确立”？", "什么是两个确立？", "什么是两个确立？"),
    # two phrases side by side stay two words: glued, 前提在于关键在于 marked only the second
    ("用“前提在于”“关键在于”串起来的是哪篇？", "用前提在于 关键在于串起来的是哪篇？", "用前提在于 关键在于串起来的是哪篇？"),
    ('“保交楼” 楼盘 -烂尾 title:晋中', "保交楼 楼盘", '保交楼 楼盘 -烂尾 title:晋中'),
    ('"保交楼"', "保交楼", None),
    ('“保交楼” 楼盘 -title:晋中', "保交楼 楼盘", '保交楼 楼盘 -title:晋中'),
    # quotes inside a phrase go too, and a filter is requoted with a kind it does not hold
    ("「坚决做到“两个维护”」有哪些要求", "坚决做到两个维护有哪些要求", "坚决做到两个维护有哪些要求"),
    ('「他说"好」 问题', "他说好 问题", "他说好 问题"),
    ('“保交楼” 楼盘 -「坚持"房住不炒"」 title:「学习“两个确立”」', "保交楼 楼盘",
     '保交楼 楼盘 -“坚持"房住不炒"” title:"学习“两个确立”"'),
    ("如何保障粮食安全", "如何保障粮食安全", None),
    # wording that reads as syntax once its quotes are gone stays words: it had excluded 粮食, filtered by 安全
    ("“-粮食” 安全", "-粮食 安全", "粮食 安全"),
    ('"title:安全" 粮食', "title:安全 粮食", "title 安全 粮食"),
])
def test_a_question_without_its_quotes_keeps_the_words_in_place_and_the_filters(query, unquoted, relaxed):
    parsed = parse_query(query)
    assert parsed.unquoted == unquoted
    assert parsed.without_phrases() == relaxed


def test_a_query_of_phrases_alone_is_relaxed_only_when_asked_to():
    parsed = parse_query('"lake revolution" -湖泊')
    assert parsed.without_phrases() is None
    assert parsed.without_phrases(alone=True) == "lake revolution -湖泊"


@pytest.mark.parametrize("question, naming, asked", [
    ("那篇自称要守好祖国“南大门”的首府发言，在化解楼市风险上用了哪些办法？", "自称要守好祖国“南大门”的首府",
     "在化解楼市风险上用了哪些办法？"),
    ("讲壮乡首府安全屏障的那篇，维护政治安全这块说了什么", "讲壮乡首府安全屏障的", "维护政治安全这块说了什么"),
    ("护城河防线那篇讲统筹发展和安全时，抓产业是怎么说的", "护城河防线", "讲统筹发展和安全时，抓产业是怎么说的"),
    # the clause before a comma asks; the words next to 那篇 name
    ("为加强社会治安智能化防控，“护城河”防线那篇发言要求加快哪个工程的实战应用？", "“护城河”防线",
     "为加强社会治安智能化防控，要求加快哪个工程的实战应用？"),
    ("讲“备豫不虞，为国常道”的那篇，收尾说了什么", "讲“备豫不虞，为国常道”的", "收尾说了什么"),  # a quoted comma
    ("提到要建好甲醇经济示范区的那个市，在处理群众来信来访上有什么思路？", "提到要建好甲醇经济示范区",
     "在处理群众来信来访上有什么思路？"),
    ("In the speech from the capital of the Zhuang homeland, what award did the river project receive?",
     "speech from the capital of the Zhuang homeland", "what award did the river project receive?"),
    ("In the speech built on four metaphors (lifeline, safety valve, protective net), what does it say about "
     "disease control?", "speech built on four metaphors (lifeline, safety valve, protective net)",
     "what does it say about disease control?"),
    ("In the border speech, the part about villages: which programme?", "border speech",
     "the part about villages: which programme?"),
    ("The speech whose middle part lists five areas: which abilities does its last part aim to raise?",
     "speech whose middle part lists five areas", "which abilities does its last part aim to raise?"),
])
def test_a_question_that_names_its_speech_splits_into_naming_and_asked(question, naming, asked):
    assert named_speech_question(question) == NamedSpeechQuestion(naming=naming, asked=asked)


@pytest.mark.parametrize("question, naming, asked", [
    ("What does the Tongwei county speech identify as the source of strength?", "Tongwei county",
     "What does the speech identify as the source of strength?"),
    ("Which energy projects does the port-city ('moat') speech mention?", "port-city ('moat')",
     "Which energy projects does the speech mention?"),
    ("What does the speech from the capital of the Zhuang region say about firms abroad?",
     "from the capital of the Zhuang region", "What does the speech say about firms abroad?"),
    ("Why does the Xingtai speech say the city bears a heavy responsibility?", "Xingtai",
     "Why does the speech say the city bears a heavy responsibility?"),
])
def test_an_english_question_may_name_its_speech_inside_the_sentence(question, naming, asked):
    assert named_speech_question(question) == NamedSpeechQuestion(naming=naming, asked=asked, inline=True)


@pytest.mark.parametrize("question", [
    "哪篇发言说要在守好祖国“南大门”上走在前作表率？",  # asks for the speech itself
    "What does the same speech say about food security?",
    "Which speech says the premise lies in deep study?",
    "如何保障粮食安全？",
    "那篇，说了什么",  # too little on either side to be two halves
    "讲“南大门那篇，守好”怎么说",  # the split would cut the quoted phrase in two
    "What does the speech say about food security?",
    "在选人用人上，这篇发言主张怎样发现好干部？",  # the clause before 这篇 asks: nothing names
    "讲壮乡首府安全屏障的那篇，？？？？",  # nothing left to rank in the asked half
    "讲壮乡首府安全屏障的那篇，-粮食 -安全",
    "In the speech from the capital, ------------",
])
def test_a_question_that_names_no_speech_is_not_split(question):
    assert named_speech_question(question) is None


@pytest.mark.parametrize("question, parts", [
    ("哪篇发言分成根本原则、中心任务、最终目的、重要法宝四块来讲？", ["根本原则", "中心任务", "最终目的", "重要法宝"]),
    # 和/与 join two parts' words into one item
    ("哪篇讲话从基层角度，分粮食安全、社会稳定与民族团结、保密意识三部分谈国家安全？",
     ["粮食安全", "社会稳定", "民族团结", "保密意识"]),
    ("哪篇发言在讲确保国家安全工作正确方向时，分历史方位、根本保证、现实要求三点来展开？", ["历史方位", "根本保证", "现实要求"]),
    ("哪篇發言分成根本原則、中心任務、最終目的三塊來講？", ["根本原则", "中心任务", "最终目的"]),  # read in simplified
    ("哪篇发言分成根本原则，中心任务/最终目的和重要法宝几个方面？", ["根本原则", "中心任务", "最终目的", "重要法宝"]),
    ("区县一把手每个月按信访、安全生产等指标排名点评", []),  # a list, but of no parts
    ("哪篇发言分成根本原则、中心任务两块来讲？", []),  # two parts tell too little
    ("如何保障粮食安全？", []),
])
def test_a_question_may_tell_its_speech_by_the_parts_it_lists(question, parts):
    assert listed_parts(question) == parts


def test_ranking_text_is_the_free_text_else_the_phrases():
    assert parse_query('"保交楼" 房地产').ranking_text == "房地产"
    assert parse_query('"保交楼" "稳民生"').ranking_text == "保交楼 稳民生"
    # inner quotation marks match any mark, so they rank alike however typed
    assert {parse_query(q).ranking_text for q in ('「坚决做到"两个维护"」', "「坚决做到“两个维护”」")} == {"坚决做到两个维护"}


# words hold no whitespace, nor the zero-width marks a phrase ignores as it ignores whitespace
_PLAIN = st.text(alphabet=st.characters(blacklist_categories=("Cs", "Z", "Cc"),
                                        blacklist_characters=OPENING_QUOTES + CLOSING_QUOTES + "-" + INVISIBLE_MARKS),
                 min_size=1, max_size=8)
_WORD = _PLAIN.filter(lambda word: not word.lower().startswith(("title:", "title：", "标题:", "标题：")))


@given(st.text(max_size=60))
def test_any_text_parses_or_raises_a_syntax_error(query):
    try:
        parsed = parse_query(query)
    except QuerySyntaxError:
        return
    for part in parsed.phrases + parsed.excluded + parsed.titles:
        assert part and not any(char.isspace() for char in part)


_QUOTE_MARKS = st.sampled_from(list(OPENING_QUOTES + CLOSING_QUOTES + "两个确立"))
_QUOTED_TERM = st.builds(lambda opening, inside: opening + inside + CLOSING_QUOTE[opening],
                         st.sampled_from(OPENING_QUOTES), st.text(alphabet=_QUOTE_MARKS, max_size=10))


@given(st.sampled_from(["-", "标题:"]), _QUOTED_TERM)
def test_a_relaxed_query_keeps_each_filter_and_quotes_nothing(marker, term):
    try:
        parsed = parse_query(f"问题 “两个确立” {marker}{term}")
    except QuerySyntaxError:
        return
    again = parse_query(parsed.without_phrases())
    assert (again.phrases, again.excluded, again.titles) == ((), parsed.excluded, parsed.titles)


@given(st.text(alphabet=st.sampled_from(list("-:：标题title 粮食\t")), max_size=40))
@example("标题:-:")  # the field's colon spaced off had left -: behind it, which excluded “:” (CI's draw, 2026-12-08)
@example("标题:标题:粮食")
def test_free_text_made_outside_the_parser_is_written_as_words_alone(text):
    again = parse_query(ParsedQuery(text=text).written())
    assert (again.phrases, again.excluded, again.titles, again.excluded_titles) == ((), (), (), ())


@given(st.text(max_size=60))
def test_a_parsed_query_written_out_parses_back_to_itself(query):
    try:
        parsed = parse_query(query)
    except QuerySyntaxError:
        return
    assert parse_query(parsed.written()) == parsed


@given(st.lists(st.tuples(st.sampled_from(["word", "phrase", "exclude", "title"]), _WORD), max_size=8))
def test_a_query_built_from_parts_parses_back_into_them(parts):
    rendered = {"word": "{}", "phrase": '"{}"', "exclude": "-{}", "title": "标题:{}"}
    query = " ".join(rendered[kind].format(value) for kind, value in parts)

    def of(kind):
        return tuple(dict.fromkeys(value for k, value in parts if k == kind))

    assert parse_query(query) == ParsedQuery(text=" ".join(v for k, v in parts if k == "word"),
                                             phrases=of("phrase"), excluded=of("exclude"), titles=of("title"))


# a closing quote and its twin quote as a pair (”保交楼”): syntax too
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",),
                                      blacklist_characters=OPENING_QUOTES + CLOSING_QUOTES + "-"), max_size=60))
def test_text_without_syntax_is_all_free_text(query):
    assume(not any(word.lower().startswith(("title:", "title：", "标题:", "标题：")) for word in query.split()))
    assert parse_query(query) == ParsedQuery(text=" ".join(query.split()))


_PLAIN_CHINESE = st.text(alphabet=st.sampled_from(list("安全粮食城市发展稳定边境保密生态经济社会")), min_size=4, max_size=12)


@given(_PLAIN_CHINESE, st.sampled_from(["的那篇，", "这篇讲话里，", "的那座城市，", "那篇发言中"]), _PLAIN_CHINESE)
def test_a_question_naming_its_speech_splits_where_the_naming_ends(naming, connector, asked):
    question = named_speech_question(naming + connector + asked)
    assert question is not None and question.asked == asked and question.naming.startswith(naming)


@given(st.text(alphabet=st.sampled_from(list("那篇这发言讲话的，,：“”\" 安全粮食城市座个-")), max_size=40))
def test_a_named_speech_split_never_raises_and_leaves_an_asked_half_that_parses(query):
    question = named_speech_question(query)
    if question is not None:
        # the asked half is the question less its naming words: their characters in their order
        rest = iter(query)
        assert question.naming in query and all(char in rest for char in question.asked)
        assert parse_query(question.asked).text
