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
