"""Shared fixtures: the real model, a real index of the bundled seeds, searchers over it (FAISS and Milvus Lite)."""
from __future__ import annotations

import contextlib
import threading

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SEEDS = REPO / "seeds"
# A speech whose title and body carry HTML: every page and highlight must show it as text.
MARKUP_TITLE = '测试标题"><img src=x onerror=alert(1)>'
MARKUP_SPEECH = f"""{MARKUP_TITLE}
一、标签测试
有人在讲话稿里写了<script>alert(1)</script>这样一段标签测试文字，应当原样显示。
二、粮食安全
保障粮食安全是头等大事，要落实粮食安全党政同责。
"""


@pytest.fixture(scope="session")
def encoder():
    """The default encoder (bundled multilingual-e5-small), loaded once."""
    from index.embed import load_encoder

    return load_encoder()


@pytest.fixture(scope="session")
def index_root(tmp_path_factory, encoder) -> Path:
    """An index of the seed corpus, built once for the whole test session."""
    from index.build import build

    root = tmp_path_factory.mktemp("index")
    build([SEEDS], root, encoder=encoder)
    return root


@pytest.fixture(scope="session")
def searcher(index_root, encoder):
    """A searcher over the seed index."""
    from index.search import load_searcher

    return load_searcher(index_root, encoder=encoder)


@pytest.fixture
def app(searcher):
    """The Flask app over the seed index (the searcher is loaded once and shared)."""
    from service import create_app

    return create_app({"TESTING": True}, searcher=searcher)


@pytest.fixture
def client(app):
    """A Flask test client of ``app``."""
    return app.test_client()


@pytest.fixture(scope="session")
def milvus_searcher(index_root, encoder, tmp_path_factory):
    """A searcher over the same build published to Milvus Lite (a local file)."""
    from index.lifecycle import current_build
    from index.milvus import MilvusIndex
    from index.search import Searcher
    from index.store import FaissBm25Store

    index = MilvusIndex(str(tmp_path_factory.mktemp("milvus") / "speechqa.db"))
    index.publish(FaissBm25Store.load(current_build(index_root)))
    return Searcher(index.open(), encoder)


# A library with a reprint (b_ is a_ with one line rewritten, reprinted later elsewhere), metadata
# from a header block, a dated line and a sidecar file: tests/test_find.py and the browser test.
FIND_CORPUS = {
    "a_original.txt": """日期：2021-09-01
地点：南宁
讲话人：张三
场合：全市国家安全工作会议
---
筑牢新时代安全屏障
一、坚决守住保交楼、稳民生底线
我们坚持房子是用来住的、不是用来炒的定位，压实地方政府、房地产企业、金融机构各方责任，全力推进保交楼工作，做到应交尽交、能交快交，切实维护购房群众合法权益，守住不发生系统性风险的底线。
二、持续深化平安建设
完善立体化社会治安防控体系，严厉打击电信网络诈骗等突出违法犯罪，深入推进扫黑除恶常态化，让人民群众的获得感、幸福感、安全感更加充实、更有保障、更可持续。
""",
    "b_reprint.txt": """日期：2023-04-15
地点：柳州
讲话人：李四
---
筑牢新时代安全屏障
一、坚决守住保交楼、稳民生底线
我们坚持房子是用来住的、不是用来炒的定位，压实地方政府、房地产企业、金融机构各方责任，全力推进保交楼工作，做到应交尽交、能交快交，切实维护购房群众合法权益，守住不发生系统性风险的底线。
二、持续深化平安建设
完善立体化社会治安防控体系，严厉打击电信网络诈骗等突出违法犯罪，依法严惩养老诈骗等违法犯罪，让人民群众的获得感、幸福感、安全感更加充实、更有保障、更可持续。
""",
    "c_grain.txt": """扛稳粮食安全重任
（2022年5月10日）
一、严守耕地保护红线
粮食安全是国家安全的重要基础，要全面落实粮食安全党政同责，严守耕地保护红线，稳定粮食播种面积。上海的交通和大学都要支持农业科技创新，保交楼和稳粮价同样关乎民生。
二、健全粮食储备体系
加快建设现代化粮食仓储设施，完善地方储备轮换机制，确保关键时刻调得出、用得上。
""",
    "c_grain.meta.json": '{"place": "南宁", "speaker": "王五"}',
}


@pytest.fixture(scope="session")
def find_index(tmp_path_factory, encoder) -> Path:
    """An index root holding a build of FIND_CORPUS, built once."""
    from index.build import build

    corpus = tmp_path_factory.mktemp("find-corpus")
    for name, text in FIND_CORPUS.items():
        (corpus / name).write_text(text, encoding="utf-8")
    root = tmp_path_factory.mktemp("find-index")
    build([corpus], root, encoder=encoder)
    return root


@pytest.fixture(scope="session")
def find_searcher(find_index, encoder):
    """A searcher over FIND_CORPUS."""
    from index.search import load_searcher

    return load_searcher(find_index, encoder=encoder)


def one_file_searcher(tmp_path_factory, encoder, name: str, text: str):
    """A searcher over a real index of one corpus file ``name`` holding ``text``."""
    from index.build import build
    from index.search import load_searcher

    corpus = tmp_path_factory.mktemp(f"{Path(name).stem}-corpus")
    (corpus / name).write_text(text, encoding="utf-8")
    root = tmp_path_factory.mktemp(f"{Path(name).stem}-index")
    build([corpus], root, encoder=encoder)
    return load_searcher(root, encoder=encoder)


@pytest.fixture(scope="session")
def markup_searcher(tmp_path_factory, encoder):
    """A tiny real index of one speech whose title and body carry HTML."""
    return one_file_searcher(tmp_path_factory, encoder, "markup.txt", MARKUP_SPEECH)


@pytest.fixture
def markup_client(markup_searcher):
    """A Flask test client over ``markup_searcher``."""
    from service import create_app

    return create_app({"TESTING": True}, searcher=markup_searcher).test_client()


@contextlib.contextmanager
def served_in_thread(app, **options):
    """``app`` under the server `speechqa serve` runs (service/server.py), in a thread on a free loopback
    port: its base URL; stopped, every connection closed, when the block ends."""
    from service.server import listen, stop

    server, (bound,) = listen(app, host="127.0.0.1", port=0, **options)
    thread = threading.Thread(target=server.run, name="speechqa-waitress", daemon=True)
    thread.start()
    try:
        yield f"http://{bound}"
    finally:
        stop(server)
        thread.join(timeout=10)
    assert not thread.is_alive(), "the server's loop outlived stop()"
