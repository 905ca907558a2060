"""jieba's dictionary through the model cache: the same prefix dictionary as jieba's own load."""
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# A fresh interpreter each time: jieba's dictionary lives in its module-level tokenizer.
LOAD = """
import json, jieba
from index.lexical import warm_up, tokenize
warm_up()
own = jieba.Tokenizer()
own.initialize()
print(json.dumps({"same": jieba.dt.FREQ == own.FREQ and jieba.dt.total == own.total, "words": len(jieba.dt.FREQ),
                  "terms": tokenize("筑牢新时代壮乡首府安全屏障")}))
"""


def load_in_fresh_interpreter(cache: Path) -> dict:
    done = subprocess.run([sys.executable, "-c", LOAD], cwd=ROOT, env={"SPEECHQA_MODEL_CACHE": str(cache), "PATH": ""},
                          capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


def test_warm_up_loads_jiebas_own_dictionary_from_the_cache_it_made(tmp_path):
    expected = {"same": True, "words": 498113, "terms": ["筑牢", "新", "时代", "壮乡", "首府", "安全", "屏障"]}
    assert load_in_fresh_interpreter(tmp_path) == expected  # made from jieba's dict.txt
    (cached,) = tmp_path.glob("jieba-prefix-dict-*.marshal")
    assert load_in_fresh_interpreter(tmp_path) == expected  # read from the cache
    cached.write_bytes(b"\x00broken")
    assert load_in_fresh_interpreter(tmp_path) == expected  # a broken cache is made again
    assert cached.stat().st_size > 1_000_000


def test_meaningful_words_are_a_questions_words_as_typed_without_stop_words_or_punctuation():
    from index.lexical import meaningful_words

    assert meaningful_words("How to bake sourdough bread at home?") == ["bake", "sourdough", "bread", "home"]
    assert meaningful_words("What was Shanghai's GDP in 2023?") == ["Shanghai", "GDP", "2023"]
    assert meaningful_words("如何保障粮食安全？粮食安全") == ["保障", "粮食安全"]


def test_a_common_word_is_one_jiebas_dictionary_counts_often():
    from index.lexical import is_common_word

    # 高峰 (rush hour) and 金山 are words before they are a speaker's name; 许长青 and 王五 are names only
    assert [is_common_word(word) for word in ("高峰", "金山", "许长青", "王五", "李四")] == [True, True, False, False, False]
