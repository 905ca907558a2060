import marshal

from index import bilingual


def test_the_gloss_index_is_kept_in_the_cache_and_read_back(tmp_path, monkeypatch):
    monkeypatch.setenv("SPEECHQA_MODEL_CACHE", str(tmp_path))
    bilingual.gloss_index.cache_clear()
    try:
        made = bilingual.gloss_index()
        (cached,) = tmp_path.glob("cedict-glosses-*.marshal")
        assert marshal.loads(cached.read_bytes()) == made
        assert made["coal mine"] == ("煤矿",) and "国家安全" in made["national security"]
        bilingual.gloss_index.cache_clear()
        assert bilingual.gloss_index() == made  # read from the file
        cached.write_bytes(b"not marshal data")  # a damaged cache is parsed again and rewritten
        bilingual.gloss_index.cache_clear()
        assert bilingual.gloss_index() == made
        assert marshal.loads(cached.read_bytes()) == made
    finally:
        bilingual.gloss_index.cache_clear()


def test_the_policy_glossary_replaces_cedicts_senses_and_splits_long_terms():
    cedict = {"revitalization": ("维新",), "national security": ("国家安全",), "coal": ("煤炭",)}
    glossary = {"revitalization": ("振兴",), "holistic approach to national security": ("总体国家安全观",)}
    pieces = {"总体国家安全观": ["总体", "国家", "安全观"]}
    vocabulary = {"维新", "振兴", "国家安全", "总体", "国家", "安全观", "煤炭"}
    terms = bilingual.chinese_terms("The holistic approach to national security, coal and rural revitalizations",
                                    vocabulary, index=cedict, glossary=glossary, split=pieces.get)
    # the glossary's seven-character term is split (CC-CEDICT's stop at four); "revitalizations" is
    # found by its singular, in the glossary's sense (振兴), not CC-CEDICT's (维新)
    assert terms == ["总体", "国家", "安全观", "煤炭", "振兴"]
    # where the glossary's terms are all outside the vocabulary, shorter runs and CC-CEDICT still answer
    assert bilingual.chinese_terms("holistic approach to national security", {"国家安全"}, index=cedict,
                                   glossary=glossary, split=pieces.get) == ["国家安全"]


def test_a_glossary_phrase_matches_with_or_without_its_articles():
    glossary = {"capital of zhuang region": ("壮乡首府",), "nip in bud": ("萌芽",)}
    vocabulary = {"壮乡首府", "萌芽", "首都"}
    cedict = {"capital": ("首都",)}
    for question in ("the capital of the Zhuang region", "capital of Zhuang region", "a capital of a Zhuang region"):
        assert bilingual.chinese_terms(question, vocabulary, index=cedict, glossary=glossary) == ["壮乡首府"]
    assert bilingual.chinese_terms("nip it in the bud", vocabulary, index=cedict, glossary=glossary) == []
    # a table's own phrases are read the same way: its articles do not have to be the question's
    assert bilingual.glossary_key(bilingual.english_words("Nip in the bud")) == "nip in bud"


def test_british_spellings_are_read_as_the_dictionarys_american_ones(searcher):
    assert bilingual.english_words("Grey rhinos, colour revolutions, the defence of organising") == [
        "gray", "rhinos", "color", "revolutions", "the", "defense", "of", "organizing"]
    for british, american in [("grey rhino events", "gray rhino events"),
                              ("three lines of defence", "three lines of defense"),
                              ("neighbouring cities organise", "neighboring cities organize")]:
        assert searcher.lexical_terms(british) == searcher.lexical_terms(american)


def test_the_packaged_policy_glossary_reads_as_english_phrases_and_chinese_terms():
    glossary = bilingual.policy_glossary()
    assert len(glossary) > 150
    assert glossary["pumped storage"] == ("抽水蓄能",) and glossary["revitalization"] == ("振兴",)
    # keys are read as questions are ("Agriculture, rural areas and farmers" → words without commas)
    assert glossary["agriculture rural areas and farmers"] == ("三农",)
    assert all(k == bilingual.glossary_key(bilingual.english_words(k)) for k in glossary)
    assert max(len(k.split()) for k in glossary) <= bilingual.MAX_GLOSSARY_PHRASE
    assert all(bilingual.has_chinese(term) for terms in glossary.values() for term in terms)


def test_an_english_question_reaches_the_seeds_through_the_glossary(searcher):
    terms = searcher.lexical_terms("Which speech talks about pumped storage and offshore wind?")
    assert {"抽水", "蓄能", "海上", "风电"} <= set(terms)
    hits = searcher.search("Which speech talks about pumped storage and offshore wind?", k=5, mode="bm25")
    assert any("抽水蓄能" in h.passage.text for h in hits)


def test_english_terms_are_the_stems_of_a_questions_words_split_at_hyphens():
    assert bilingual.english_terms("Who guards the county-level grassroots, protecting what sb protects?") == [
        "en_guard", "en_counti", "en_level", "en_grassroot", "en_protect"]
    assert bilingual.english_terms("什么 is it?") == []


def test_translated_terms_give_each_words_senses_once_in_order():
    table = {"保护": ("en_protect", "en_defend"), "防护": ("en_protect",), "安全": ("en_safe", "en_secur")}
    assert bilingual.translated_terms(["安全", "保护", "无词", "防护", "安全"], table) == [
        "en_safe", "en_secur", "en_protect", "en_defend"]
    assert bilingual.translated_terms([], table) == []


def test_a_headwords_english_comes_from_its_first_senses_glossary_first(tmp_path, monkeypatch):
    monkeypatch.setenv("SPEECHQA_MODEL_CACHE", str(tmp_path))
    bilingual.headword_english.cache_clear()
    try:
        table = bilingual.headword_english()
        assert list(tmp_path.glob("headword-english-*.marshal"))
        # CC-CEDICT: 保护 /to protect/to defend/to safeguard/protection/CL:種|种[zhong3]/ → its first two senses
        assert table["保护"] == ("en_protect", "en_defend")
        # the glossary's "revitalization" (振兴) comes before CC-CEDICT's "to revitalize"; both stem alike
        assert table["振兴"][0] == "en_revit"
        assert all(term.startswith(bilingual.TRANSLATION_PREFIX) for terms in table.values() for term in terms)
    finally:
        bilingual.headword_english.cache_clear()


def test_an_english_question_meets_a_passages_dictionary_english_whatever_the_inflection(searcher):
    question = "protecting ecological civilization"
    terms = searcher.lexical_terms(question)
    assert "en_protect" in terms and "en_ecolog" in terms
    # a passage's BM25 document holds the English of its words, stemmed the same way
    (holding,) = [i for i, p in enumerate(searcher.passages) if "生态" in p.text and "保护" in p.text][:1]
    assert searcher.term_stats.coverage(["en_protect", "en_ecolog"], holding) == 1.0
    hits = searcher.search(question, k=3, mode="bm25")
    assert hits and all("生态" in h.passage.text for h in hits)


def test_words_translated_as_lists_the_vocabularys_words_behind_each_english_term_single_characters_out():
    table = {"保护": ("en_protect", "en_defend"), "防护": ("en_protect",), "省": ("en_save",), "节约": ("en_save",)}
    assert bilingual.words_translated_as(["保护", "防护", "省", "无关"], table) == {
        "en_protect": ("保护", "防护"), "en_defend": ("保护",)}
    assert bilingual.words_translated_as([], table) == {}


def test_a_chinese_place_is_known_by_its_pinyin_and_an_english_word_is_no_name():
    from index.bilingual import place_names, romanized_names

    names = romanized_names()
    assert "通渭" in names["tongwei"] and "邢台" in names["xingtai"]
    assert all(len(head) > 1 for heads in names.values() for head in heads)
    assert "party" not in names and "asia" not in names
    places = place_names()
    assert {"通渭", "邢台", "晋中", "云南"} <= places and "大学" not in places
