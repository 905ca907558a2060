"""Corpus files → Speech records: nothing lost, nothing invented.

A corpus is ``.txt`` files and Word ``.docx`` files, each brought to its canonical text by
index/decode.py (decoded, CRLF/CR made LF, each line trimmed, blank lines dropped). ``read_corpus_file``
gives the text every offset refers to: the canonical text less each line that holds only an
advertisement or page furniture (below), which goes as a blank line goes, named in a warning.
Paragraphs are therefore exactly one newline apart, as in a copy of the file without those lines,
which is what lets ``index.chunk`` rebuild a multi-paragraph passage's source text from its blocks
alone. A directory's files of any other kind are named in a warning.

``parse_text`` reads one file's text:

* A compilation opens with front matter (collection title, a count line such as （11篇）, （共5篇）
  or 共五篇, which may also stand under the 目录 head) and a 目录 whose entries are ``1.标题<tab>3``.
  The front matter and the TOC are not content (a 目录 head whose entries carry no numbers, ``标题<tab>3`` or the titles
  alone, ends at the first line that repeats an entry). A speech starts at a line equal to a TOC title (numbers,
  page numbers, whitespace and punctuation ignored, but not a sentence end: a line
  that ends a sentence where the title does not quotes it), with or without a
  blank line before it. The count line is not trusted: the TOC and the body
  decide; an entry that matches no line is named in a warning, its text staying
  in the speech before it.
* Without a TOC the file is one speech, unless its sidecar names speeches (a body line equal to
  a title the sidecar names starts that speech) or a title with its own header and ``---`` (below)
  starts another, in any file. Its first line is the title when it is
  short (at most 40 characters), has no sentence or clause punctuation (but a colon before a
  subtitle that says where the speech was given, 聚焦主责主业：在全市大会上的讲话, read as a dash before
  one) and opens with no heading or point marker. When a header block follows it at once, the
  first line may also be up to 80 characters long, with any punctuation or English words (坚定信念，
  勇毅前行, 年度工作总结。, Remarks at the City Security Forum 城市安全论坛讲话), if it opens with no
  heading or point marker, does not close with a clause mark (同志们：) and is no header, date or
  byline line itself; so may a line that ends no sentence, when a date line or a byline and then more
  text follow it (a speech of one sentence may close on its date). A file of that line alone holds
  no speech.
  A reprint may keep the header of the periodical or compilation it was cut from above that
  line: a first line that closes with a series word (精选, 选编, 汇编, 文选, 选辑, 摘编, 文摘, 专辑,
  合集, 汇集, 荟萃) or an issue number (第12期, 2024年第3期, （总第120期）), followed by a title line
  and, right under it, a byline, date or header line, is the speech's collection (as a
  compilation's front matter is) and the next line its title. A title that holds such a word
  inside, or whose next line is already its byline, stays the title.
  Otherwise the speech is untitled, gets ``title_inferred=True``, and its title
  is derived, in order: the first heading's label without its 一、/（一）/1.
  marker; the first sentence of the body's first line (cut at 40 characters); the file stem.
* Every other non-noise line is a Block (see ``Block``): ``heading`` for a line
  opening with 一、 / （一） / 1. 1、 （1） — when the heading leads a long paragraph
  the whole line stays one heading block and its label is the first sentence —
  ``point`` for a paragraph opening with 一是 / 一要 / 第一， / 首先， (points open no
  section), else ``paragraph``. ``Block.heading`` is a heading's or a point's
  label, marker kept ("" for a paragraph); ``Block.section`` is the heading
  path, outermost first, without the speech title.
* Noise never reaches a block: ##paidbegin## / ##paidend## markers (a marker glued
  to a line is cut away, the rest of the line kept), count lines, and
  advertisement lines: a line of at most 200 characters that opens with a 【…素材库/代笔…】
  banner, or names the compiler's trade (素材库, 代笔, 代写, 网盘, VIP, 会员群, 提取码…) and
  a way to reach the seller (客服：cwk, 微信/QQ and an id, 公众号：name, a URL) and does not
  read as the speaker's prose; or a line of at most 100 characters that asks for contact
  (关注公众号, 添加客服, 加微信, 扫码关注, VX, QQ群) and offers material (素材, 材料, 范文, 代写,
  会员…), as 更多精品材料请关注公众号：笔杆子素材，添加客服：cwk does, and is not prose.
  Speech prose that mentions 微信客服 or 接单 gives no seller's
  handle and is kept, and so is a line that governs (打击, 整治, 查处, 举报, 各级…), serves the
  public (政务, 群众, 办理), warns of the trade (警惕, 诱导, 境外), addresses the meeting (大家) or
  names a government contact (12339, .gov.cn), unless it names the trade and a seller's contact and
  courts a customer (添加客服, 加微信, 扫码, 优惠, 认准…); ``load_corpus`` names every line it
  leaves out as an ad in a warning.
* Page furniture never reaches a block either: page numbers (— 12 —, - 12 -, ·12·, 第 12 页, 12/30,
  Page 12 of 30, a bare number of up to three digits) and running headers, a line of at most 20
  characters, no heading, header line, byline, date or 目录 title, without punctuation, that occurs three times or
  more in the file (内部资料 注意保存). One warning per file names them, as they read. The text
  ``read_corpus_file`` gives holds no line of furniture or ads, so a sentence a page break cut is
  one block again; given a text that still holds one, ``parse_text`` leaves it out of the blocks,
  which then stay apart: a block's text is its source span.
* A paragraph line of at least 15 characters that stops mid-sentence (no 。！？；…： at its end, nor an
  English sentence's full stop, a point after a digit being a decimal's) and is no table's row (cells
  apart by tabs, or by index/word.py's `` | ``) and not only a date or one remark in brackets,
  followed at once by a plain paragraph line that is no table's row, is wrapped (``wraps``): the two
  are one block, line break and all (text converted from print, hard-wrapped or cut by a page break
  with blank lines). A list's item without end punctuation runs on into the next too: nothing tells
  it from a line of print.
  Citations and exports read such a line break by the same rule, as no paragraph break.
* Placeholders (xx, xxx, 20xx, x·xx) are text like any other and stay.
* A speech's id is the first 12 hex digits of sha1(f"{source}\\n{title}"), with
  ``-2``, ``-3`` … appended when a file repeats a title.

Speech metadata (``Speech.date``/``place``/``speaker``/``occasion``/``collection``), None
unless stated:

* A header block: ``键：值`` lines (either colon) with the keys 日期 (or 时间, date), 地点 (place),
  讲话人 (or 发言人, speaker), 场合 (occasion) and 汇编 (collection) — a key may be spaced out to
  align the colons (地　点：) or bracketed, its colon then optional (【讲话人】张三, [时间] 2024年5月8日) —
  closed by a ``---`` line or
  simply by the first line that is not one (blank lines are gone after decoding). The lines a
  byline prints under a title (a date line, ——在…上的讲话, 市委书记　张三, below) may stand among
  them, read as they are below; with neither a header line nor a ``---`` they are a byline and a
  date line. Closed by ``---`` and holding a header line, a block may also hold ``键：值`` lines of
  other keys (主持人：王五; at the top of the file not as its first line, which may be a title such as
  坚定信念：勇毅前行): each is left out and named in a warning, and so is a line that gives a field
  the block gave otherwise before it (the first is kept). At the top of
  the file (it may open with ``---`` too) it applies to every speech of the file; right after a
  speech's title line it applies to that speech. Further down the file a title-like line, header
  lines and the ``---`` together start a new speech with that header (speeches saved one after
  another in one file), and so do a title-like line, ——在…上的讲话 right under it and a speaker
  line after that (a collection printed without 目录 or ``---``); header lines without the
  ``---`` (日期：… quoted in a paragraph) or without the title line above stay body text. Header
  lines are no body text; a value is at most 80 characters (a longer line is a paragraph). A date is
  2023-04-15, 2023/4/15, 2023.4.15, 2023年4月15日 or 二〇二三年四月十五日, each also with its
  weekday after it (（星期六）, 周六, 礼拜六); anything else (a date to the month only, 2023年10月 or
  2023-10, included: ``Speech.date`` is a full day, which filters and date order compare; and a
  weekday the day is not, as nothing tells which of the two is wrong) leaves the date unset, with a
  warning naming the line.
* A sidecar file ``<stem>.meta.json`` beside ``<stem>.txt`` (index/sidecar.py, read by ``load_corpus``): a JSON
  object with the same fields in English (``date``, ``place``, ``speaker``, ``occasion``,
  ``collection``) for the whole file, and ``speeches``: {title: {fields}} for single speeches.
  A sidecar that cannot be used (not JSON, a bad field, a title the file lacks) is ignored
  with a warning naming it and why; the file's text is indexed without it.
* The text: a line that is only a full date, bare, in brackets — （2023年4月15日） — or after a
  byline's dash (——2023年4月15日), among a
  speech's first three body lines or as its last, gives the speech's date; like a header line it
  is then no body text (the first such line only: a second date stays text).
  Placeholders such as 20xx年x月x日 are no date. A line to the month only (（二〇二三年十月）), of
  no real day or with a weekday the day is not stays text and is named in a warning, also where
  another of those lines gives the date.
* The more specific source wins: sidecar speech entry, speech header, the speech's byline and
  dated line, sidecar file fields, then the file header (in a compilation a file-wide date is the
  compilation's, a dated line the speech's). ``collection`` falls back to the compilation's own
  title, the first line of a compilation's front matter before its 目录 (or a reprint's series
  header), and ``occasion`` to the meeting the speech's own title names as a byline does
  (在全县安全生产约谈会上的讲话 → 全县安全生产约谈会), then to the one the compilation's title names
  (关于在…座谈会上的发言材料汇编 → …座谈会).
* Every value is spaced the same whatever its source: each run of whitespace (U+3000 included)
  one space, none at the ends (a header's or a sidecar's 市长　周志刚 reads 市长 周志刚, as a
  byline's does), and no zero-width mark (U+200B–U+200D, U+2060, U+FEFF, which text copied from the
  web or Word carries unseen) is kept in a value or a title; the body text keeps them.

A file printed in traditional characters (a Hong Kong or Taiwan reprint) parses as its simplified
original: every rule above, written in simplified words, reads a line as index/simplified.py folds it
(講話人, 最後, 第 3 頁 as 讲话人, 最后, 第 3 页), and a 目录 entry finds its body line the same way.
Whatever the parser keeps — titles, metadata values, block text, the lines a warning quotes — is the
file's own, cut at the offsets the fold keeps: 講話人：陳大文 gives the speaker 陳大文.
"""
from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from index.corpus import corpus_named, named_as_copy
from index.dates import DATE, DATE_VALUE, iso_date, why_no_date
from index.decode import canonical_file, is_blank
from index.errors import CorpusError, as_read
from index.query import visible
from index.records import Block, Speech
from index.sidecar import SIDECAR_SUFFIX, SidecarError, read_sidecar
from index.simplified import simplified
from index.word import TABLE_CELL_SEPARATOR

_MARKER = re.compile(r"##paid(?:begin|end)##")
# A compilation's count line under its title or its 目录 head: （11篇）, （共5篇）, 共五篇.
_COUNT = r"共?\s*(?:\d{1,4}|[一二两三四五六七八九十百零〇]{1,6})\s*篇"
_COUNT_LINE = re.compile(rf"[（(]\s*{_COUNT}\s*[）)]|{_COUNT}")
_TOC_HEAD = re.compile(r"目\s*录[:：]?")
# 1.标题<tab>3 (also 1、 and dotted or spaced page leaders); the page number is optional.
_TOC_ENTRY = re.compile(r"(\d{1,3})\s*[.．、]\s*(.+?)(?:\s*(?:\t|\s{2,}|[.．…·]{2,})\s*(\d{1,4}))?")
# An entry of a 目录 without numbers: the title, then a page number after a tab, spaces or leaders.
_TOC_ENTRY_BARE = re.compile(r"(.+?)(?:\s*(?:\t|\s{2,}|[.．…·]{2,})\s*\d{1,4})?")
_TOC_TITLE_LIMIT = 60
# Lines of notes a 目录 head may have above its entries (共计3篇, （按发言顺序排列）), each this short at most.
_TOC_NOTE_LINES = 2
_TOC_NOTE_CHARS = 30
# A paragraph line this long that ends without a sentence end goes on in the next line (_blocks).
_WRAPPED_LINE_MIN = 15
# An English sentence's full stop ends a line too (up 27% year on year.), but not a decimal's point (12.5亿).
_ENDS_SENTENCE = re.compile(r"(?:[。！？!?；;…：:]|(?<!\d)\.)+[”’」』\"')）》]*$")
# A line that is one remark in brackets, （数据截至二〇二四年九月底）: a note of its own, done.
_REMARK_LINE = re.compile(r"[（(][^（()）]*[）)]")
_TOC_ENTRY_PAGED = re.compile(r"\d{1,3}\s*[.．、]\s*.+?\s*(?:\t|\s{2,}|[.．…·]{2,})\s*\d{1,4}")

_CN_NUM = "一二三四五六七八九十"
# Heading markers by level; a level-3 "1." must not be a decimal number such as 1.5亿.
_HEADINGS = (
    (1, re.compile(rf"[{_CN_NUM}]{{1,3}}、")),
    (2, re.compile(rf"[（(][{_CN_NUM}]{{1,3}}[）)]")),
    (3, re.compile(r"(?:\d{1,2}[.．、](?![\d.．])|[（(]\d{1,2}[）)])")),
)
_POINT = re.compile(rf"(?:[{_CN_NUM}]{{1,3}}[是要]|第[{_CN_NUM}]{{1,3}}[，,、：:]|(?:首先|其次|再次|最后)[，,])")
_SENTENCE_END = re.compile(r"[。！？!?；;]")
_CLAUSE_END = re.compile(r"[，,：:]")
# The seeds' longest paragraph is ~3,700 characters; a line many times that is a file that lost
# its line breaks (or is not a speech). It is still indexed, cut at sentence ends, but the build
# says so: the dense arm embeds every sentence of it.
LONG_LINE_CHARS = 20_000
_TITLE_PUNCT = re.compile(r"[。！？!?；;，,：:、]")
_LABEL_LIMIT = 60
_TITLE_LIMIT = 40
# A header, a date line or a byline right under a line says it is the title, whatever its punctuation
# (聚焦主责主业：在全市大会上的讲话, 坚定信念，勇毅前行, 年度工作总结。) and however long its English words
# make it (Remarks at the City Security Forum 城市安全论坛讲话): as long as a header value may be.
_HEADED_TITLE_LIMIT = 80
# A title of this genre is often two or three short parallel clauses apart by commas (坚定信念，勇毅前行;
# 聚焦安全生产，筑牢责任落实): each holds this many ideographs at least, and the shortest half the longest's
# at least, which a lead-in (当前，…; 近年来，…) or a sentence cut at the page's edge seldom does.
_PARALLEL_CLAUSES = (2, 3)
_CLAUSE_IDEOGRAPHS = 4
_IDEOGRAPH = re.compile(r"[\u4e00-\u9fff]")
_TRAILING_REMARK = re.compile(r"\s*[（(][^（()）]*[）)]$")
# Lines a page's width apart differ by an indent or a few half-width digits at most.
_WRAP_SLACK = 4
_CLOSES_SENTENCE = re.compile(r"[。！？!?；;…][”’」』\"')）》]*$")
# An opening that addresses the hall or speaks as we is the speech's first sentence, not its title.
_ADDRESS = re.compile(r"同志们|朋友们|同学们|女士们|先生们|大家好|尊敬的|亲爱的|我们|咱们"
                      r"|各位(?:领导|来宾|嘉宾|代表|委员|同志|同仁|老师|同学|朋友)")
# A line that closes with a clause mark runs on into the next (同志们：), as no title does.
_RUNS_ON = ("，", ",", "：", ":", "、")
_TITLE_IGNORED = re.compile(r"[^\w。！？!?；;]|_")

# An advertisement sells the compiler's trade and says how to reach the seller. A speech names
# services in passing (政务微信客服, 派单接单规则, 下载表格, 联系办理) but never a seller's handle, so
# a line is an ad only with both; or it opens with the shop's banner, 【哒哒素材库】. Ads are a
# sentence or two (the seeds' three are 84–88 characters): a longer line is a paragraph, kept.
_AD_LIMIT = 200
# A speaker who fights that trade names it too, and a contact point (关注微信公众号：国家安全部进行
# 举报, 网址：www.12339.gov.cn): a line that governs (打击, 整治, 各级…), serves the public (政务, 群众,
# 办理), warns of the trade (警惕, 诱导, 境外), addresses the meeting (请大家关注公众号) or names a
# government contact is prose, unless it also courts the reader as a customer, as only a seller does.
_AD_PROSE = re.compile(r"打击|整治|查处|取缔|关停|曝光|举报|依法|各级|政务|政府|群众|办事|办理|警惕|诱导|索要|窃取|境外|涉密"
                       r"|大家|同志|(?<!\d)123(?:39|71|45)(?!\d)|\.gov\.cn")
_AD_CUSTOMER = re.compile(r"添加客服|联系客服|加微信|扫码|优惠|小伙伴|认准|谨防假冒|好评|接单中|有意加入|欢迎加入|svip")
_AD_BANNER = re.compile(r"【[^】]{0,20}(?:素材|代笔|文库|资料库|材料库)[^】]{0,10}】")
_AD_TRADE = re.compile(r"素材库|代笔|代写|网盘|vip|会员群|开通会员|谨防假冒|唯一平台|提取码")
_AD_CONTACT = re.compile(
    r"(?:客服|微信号?|qq|vx|wx|联系(?:方式|电话)?)\s*[:：]?\s*[a-z0-9][a-z0-9_\- ]{2,}"  # 客服：cwk, QQ 12345678
    r"|公众号\s*[:：“\"「]"  # 公众号：哒哒君, 关注公众号“…”
    r"|https?://|www\.")
# An ad may name no trade, only the goods and how to get more: 更多精品材料请关注公众号：笔杆子素材，
# 添加客服：cwk. A speaker asks for contact too (请大家关注公众号, 扫码办理) and warns of strangers who
# 加微信 to ask for 材料, but to serve the public or fight the trade, which _AD_PROSE reads as prose; a
# seller's line asks for contact and offers material in a sentence or two (the seeds' ads are 84–88
# characters), so a longer line is a paragraph.
_AD_SOLICIT = re.compile(r"关注(?:微信)?公众号|添加客服|联系客服|加(?:微信|qq)|扫码(?:关注|添加|加入|进群|入群|领取|获取)"
                         r"|vx|qq群")
_AD_GOODS = re.compile(r"素材|材料|范文|代写|代笔|会员|文稿")
_AD_SOLICIT_LIMIT = 100
# How the warning about a line left out as an advertisement names it, after the file's name: the command line
# counts these (a day's intake gave hundreds) apart from the warnings that say a file was skipped.
LEFT_OUT_AS_AD = "left out as an advertisement"
_AD_QUOTE = 30  # characters of a left-out ad quoted in its warning
# Page furniture of a file converted from print: page numbers (— 12 —, - 12 -, ·12·, 第 12 页, 12/30,
# Page 12 of 30, a bare 12) and a running header or footer, a short line repeated on every page (内部资料
# 注意保存). A line repeated at most twice may be a speech's slogan, so a running header needs three; one
# with any punctuation is the speech's own, and headings, header lines and dates are structure, never furniture.
_PAGE_NUMBER = re.compile(r"[-—–―－]+\s*\d{1,3}\s*[-—–―－]+|[·•・]\s*\d{1,3}\s*[·•・]"
                          r"|第\s*\d{1,3}\s*页(?:\s*[，,/]?\s*共\s*\d{1,3}\s*页)?|\d{1,3}(?:\s*/\s*\d{1,3})?"
                          r"|(?i:page)\s*\d{1,3}(?:\s*(?i:of)\s*\d{1,3})?")
_RUNNING_HEADER_CHARS = 20
_RUNNING_HEADER_REPEATS = 3
_FURNITURE_NAMED = 10  # distinct furniture lines quoted in a file's warning

_HEADER_KEYS = {"日期": "date", "时间": "date", "date": "date", "地点": "place", "place": "place",
                "讲话人": "speaker", "发言人": "speaker", "speaker": "speaker", "场合": "occasion",
                "occasion": "occasion", "汇编": "collection", "collection": "collection"}


def _spaced_out(key: str) -> str:
    """A header key's pattern: a Chinese key may be spaced out to align the colons (地　点：, 讲 话 人：)."""
    return key if key.isascii() else r"\s*".join(key)


# 讲话人：张三, or the key in brackets, its colon optional: 【讲话人】张三, [时间] 2024年5月8日. A value longer
# than a name or an occasion is a paragraph that happens to open with 地点：.
_HEADER_LINE = re.compile(rf"(?P<bracket>[【\[〔［])?\s*(?P<key>{'|'.join(map(_spaced_out, _HEADER_KEYS))})\s*"
                          rf"(?(bracket)[】\]〕］]\s*[:：]?|[:：])\s*(?P<value>.{{1,80}})", re.IGNORECASE)
_HEADER_END = re.compile(r"-{3,}")
# A 键：值 line of a key the index has no field for (主持人：王五, Venue: …): in a block closed by ---,
# a header line it cannot use, which is named in a warning rather than read as the body's first line.
_HEADER_LIKE = re.compile(r"[^\s:：，,。；;！？!?、]{1,8}\s*[:：]\s*.{1,80}")
# A speech's byline under its title, as compilations print it: ——在全市国家安全工作会议上的讲话 (the
# occasion) and 市委书记　张三 (a post, then the speaker's name). A title may say the same, 在全县安全生产
# 约谈会上的讲话, without the dash.
_GIVEN_AT = r"在(.{2,60}?)[上中]的(?:总结|主旨|动员)?(?:讲话|发言|致辞|报告|主持词)(?:提纲)?"
_BYLINE_DASH = r"[—－-]{1,2}"
_OCCASION_LINE = re.compile(rf"{_BYLINE_DASH}\s*{_GIVEN_AT}")
# where a title says the speech was given: the whole title, or its subtitle after a dash or a colon
# (聚焦主责主业：在全市大会上的讲话, …——在全市大会上的讲话)
_TITLE_OCCASION = re.compile(rf"(?:^|{_BYLINE_DASH}\s*|[：:]\s*){_GIVEN_AT}$")
# A title's subtitle follows a dash (聚焦主责主业——在全市大会上的讲话) or a colon (聚焦主责主业：在全市大会上的
# 讲话): a colon before where the speech was given opens no clause.
_SUBTITLE_COLON = re.compile(rf"[：:]\s*(?={_GIVEN_AT}$)")
# The post holds no colon: 主持人：副市长　王五 names the chair under a key the index keeps no field for.
_SPEAKER_LINE = re.compile(r"([^\s:：]{0,16}(?:书记|市长|省长|县长|区长|镇长|乡长|主任|部长|厅长|局长|处长|主席|院长|校长|"
                           r"总经理|董事长|同志))[\s\u3000]+(\S{2,4})")
_BYLINE_LINES = 3
# A compilation's title names the meeting its speeches were given at (关于在贯彻落实总体国家安全观座谈会上的
# 发言材料汇编): every speech's occasion, unless its own byline or header says another.
_COLLECTION_OCCASION = re.compile(r"在(.{2,60}?)[上中]的(?:总结|主旨|交流|典型)?(?:讲话|发言|致辞|报告)")
# （2023年4月15日）, or after a byline's dash: ——2023年4月15日
_DATED_LINE = re.compile(rf"(?:{_BYLINE_DASH}|[（(〔\[])?\s*{DATE}\s*[）)〕\]]?")
# The lines under a title that say who gave it, when and where: metadata, never body text or furniture.
_METADATA_LINES = (_HEADER_LINE, _DATED_LINE, _OCCASION_LINE, _SPEAKER_LINE)
# A reprint may keep the header of the periodical or compilation it was cut from above its title:
# 安全生产类讲话精选（第12期）, 领导讲话选编 2024年第3期, 《讲话文选》(总第120期). The word or the issue
# number closes the line; a title with such a word inside (精选良种　端牢饭碗) is no such header.
_ISSUE = r"[（(〔\[]?\s*(?:\d{4}\s*年\s*)?(?:总\s*)?第\s*[\d〇零一二三四五六七八九十百]{1,4}\s*期\s*[）)〕\]]?"
_SERIES_HEADER = re.compile(rf".{{0,30}}?(?:(?:精选|选编|汇编|文选|选辑|摘编|文摘|专辑|合集|汇集|荟萃)[》」』]?\s*"
                            rf"(?:{_ISSUE})?|{_ISSUE})")


@dataclass(frozen=True)
class _Line:
    """A line of the text, ``text`` as printed and ``words`` as index/simplified.py reads it: the rules
    match ``words`` and a value is cut from ``text`` at the match's offsets, which the fold keeps."""

    start: int
    end: int
    text: str
    words: str


def read_corpus_file(data: bytes, source: str) -> str:
    """The text a corpus file's offsets refer to: its canonical text (``canonical_file``) less the
    lines that hold only advertisements and page furniture (``_read``)."""
    return _read(canonical_file(data, source)[0])[0]


def _read(text: str) -> tuple[str, Counter[str]]:
    """A file's canonical ``text`` as the parser reads it, less each line that holds only advertisements
    and page furniture, and the file's page furniture.

    Such a line goes as a blank line goes, so the paragraphs either side of it are one newline apart as
    in a copy without it: a passage spans them (its text still the source's ``[start:end]``), a reprint
    with an ad between two paragraphs gives the original's passages, and a sentence a page break cut is
    one block again. ``load_corpus`` names each such line in a warning.
    """
    furniture = _page_furniture([line for line in _lines(text) if not _is_noise(line.words)])

    def left_out(line: str) -> bool:
        pieces = list(_lines(line))
        return bool(pieces) and all(_is_ad(piece.words) or piece.text in furniture for piece in pieces)

    return "\n".join(line for line in text.split("\n") if not left_out(line)), furniture


def _lines(text: str) -> Iterator[_Line]:
    """Trimmed line segments that are not blank (``is_blank``), with their offsets; paid-content markers
    cut lines apart."""
    offset = 0
    for raw in text.split("\n"):
        cuts = [0]
        for marker in _MARKER.finditer(raw):
            cuts += [marker.start(), marker.end()]
        cuts.append(len(raw))
        for a, b in zip(cuts[::2], cuts[1::2]):
            segment = raw[a:b]
            stripped = segment.strip()
            if not is_blank(stripped):
                lead = len(segment) - len(segment.lstrip())
                start = offset + a + lead
                yield _Line(start, start + len(stripped), stripped, simplified(stripped))
        offset += len(raw) + 1


def _printed(text: str, match: re.Match, group: int | str) -> str:
    """What a rule's ``match`` of ``text``'s simplified form holds in ``group``, as ``text`` prints it."""
    return text[match.start(group):match.end(group)]


def _title_key(text: str) -> str:
    """A title as the 目录 and the body both write it: whitespace and punctuation dropped, sentence
    ends kept, so a body line that ends a sentence where its entry does not is prose quoting it; in
    either script, as the search reads it."""
    return _TITLE_IGNORED.sub("", simplified(text))


def _is_ad(words: str) -> bool:
    """Whether a line, as ``_Line.words`` reads it, is an advertisement."""
    if len(words) > _AD_LIMIT:
        return False
    lowered = words.lower()
    if _AD_BANNER.match(words):
        return True
    if _AD_TRADE.search(lowered) and _AD_CONTACT.search(lowered):
        return bool(_AD_CUSTOMER.search(lowered) or not _AD_PROSE.search(lowered))
    return bool(len(words) <= _AD_SOLICIT_LIMIT and _AD_SOLICIT.search(lowered) and _AD_GOODS.search(lowered)
                and not _AD_PROSE.search(lowered))


def _advertisements(text: str) -> list[str]:
    """The lines of a file's text that ``parse_text`` leaves out as advertisements."""
    return [line.text for line in _lines(text) if _is_ad(line.words)]


def _is_noise(words: str) -> bool:
    return bool(_COUNT_LINE.fullmatch(words)) or _is_ad(words)


def _page_furniture(lines: list[_Line]) -> Counter[str]:
    """The page numbers and running headers among ``lines``, each with how often it occurs."""
    counts = Counter(line.text for line in lines)
    words = {line.text: line.words for line in lines}
    titles = {_title_key(entry.group(2)) for line in lines
              if len(line.text) <= 200 and (entry := _TOC_ENTRY.fullmatch(line.words))}
    return Counter({text: count for text, count in counts.items() if _PAGE_NUMBER.fullmatch(words[text])
                    or (count >= _RUNNING_HEADER_REPEATS and _may_run_as_header(words[text], titles))})


def _may_run_as_header(words: str, titles: set[str]) -> bool:
    # a compilation's speeches may share a title, a byline, a date: those lines repeat as structure
    # (a 座谈会 compilation prints one ——在…上的发言 under every title) and are read as metadata
    # punctuation marks a line as the speech's own, 同志们： above every speech of a compilation
    return (len(words) <= _RUNNING_HEADER_CHARS and not _TITLE_PUNCT.search(words)
            and _classify(words)[0] == "paragraph" and _title_key(words) not in titles
            and not any(pattern.fullmatch(words) for pattern in (_HEADER_END, *_METADATA_LINES)))


def _label(text: str, body_from: int = 0) -> str:
    """A heading's or point's label: its first sentence, else its first clause, else the line."""
    head = text[: _LABEL_LIMIT + 1]
    end = _SENTENCE_END.search(head, body_from)
    if end:
        return head[: end.start()].rstrip("，,：:、")
    if len(text) <= 2 * _LABEL_LIMIT and not _SENTENCE_END.search(text):
        return text.rstrip("，,：:、")  # a heading on its own line
    clause = _CLAUSE_END.search(head, body_from)
    return head[: clause.start()] if clause else head[:_LABEL_LIMIT]


def _classify(text: str) -> tuple[str, int, str]:
    """(kind, heading level or 0, label): the markers read in either script, the label as printed."""
    words = simplified(text)
    for level, pattern in _HEADINGS:
        marker = pattern.match(words)
        if marker and marker.end() < len(text):
            return "heading", level, _label(text, marker.end())
    point = _POINT.match(words)
    if point and point.end() < len(text):
        return "point", 0, _label(text, point.end())
    return "paragraph", 0, ""


def _strip_marker(label: str) -> str:
    for _, pattern in _HEADINGS:
        marker = pattern.match(label)
        if marker:
            return label[marker.end():].strip()
    return label


def stops_mid_sentence(line: str) -> bool:
    """Whether a line stops where its sentence does not: a line of text converted from print,
    wrapped at the page's edge or cut by a page break (a short line is a label or a title; a line
    that is only a date, （2023年4月15日 礼拜天）, only a remark in brackets or a table's row is done)."""
    line = line.rstrip()
    return (len(line) >= _WRAPPED_LINE_MIN and not _ENDS_SENTENCE.search(line) and not _is_table_row(line)
            and not _DATED_LINE.fullmatch(simplified(line)) and not _REMARK_LINE.fullmatch(line))


def _is_table_row(line: str) -> bool:
    """Whether a line is a table's row: its cells apart by tabs, or as index/word.py writes a Word table's."""
    return "\t" in line or TABLE_CELL_SEPARATOR in line


def wraps(line: str, next_line: str) -> bool:
    """Whether the line break between two lines of the text is a wrap, not a paragraph break: ``line``
    is no heading and ``stops_mid_sentence``, and ``next_line`` goes on as a plain paragraph line, no
    table's row.

    The parser joins such lines into one block, and citations and exports read them as one paragraph.
    """
    return (stops_mid_sentence(line) and _classify(next_line)[0] == "paragraph" and not _is_table_row(next_line)
            and _classify(line)[0] != "heading")


def _blocks(lines: list[_Line]) -> tuple[Block, ...]:
    blocks = []
    path: list[tuple[int, str]] = []
    for line in lines:
        kind, level, label = _classify(line.text)
        previous = blocks[-1] if blocks else None
        if (previous is not None and line.start == previous.end + 1
                and wraps(previous.text.rsplit("\n", 1)[-1], line.text)):
            # one paragraph again, its line break kept (a block is its source span), so that no passage
            # boundary falls inside the sentence and a quoted phrase finds it whole
            blocks[-1] = replace(previous, text=f"{previous.text}\n{line.text}", end=line.end)
            continue
        if kind == "heading":
            while path and path[-1][0] >= level:
                path.pop()
            path.append((level, label))
        section = tuple(text for _, text in path)
        blocks.append(Block(kind=kind, text=line.text, start=line.start, end=line.end,
                            section=section, heading=label))
    return tuple(blocks)


def _looks_like_title(words: str) -> bool:
    """Whether a line, as ``_Line.words`` reads it, may be a title: short, without sentence or clause
    punctuation but a colon before a subtitle that says where it was given (``_SUBTITLE_COLON``)."""
    return _shaped_as_title(words, _TITLE_LIMIT) and not _TITLE_PUNCT.search(_SUBTITLE_COLON.sub("", words, 1))


def _shaped_as_title(words: str, limit: int) -> bool:
    """Whether a line of at most ``limit`` characters may be a title whatever its punctuation: it opens no
    heading or point, is no 目录 line and does not run on (a clause mark at its end)."""
    return (len(words) <= limit and not words.endswith(_RUNS_ON) and not _TOC_HEAD.fullmatch(words)
            and _classify(words)[0] == "paragraph" and not _TOC_ENTRY_PAGED.fullmatch(words))


def _parallel_clauses(words: str) -> bool:
    """Whether a line, as ``_Line.words`` reads it, is a title of parallel clauses apart by commas, as
    ``_PARALLEL_CLAUSES`` says (a trailing remark in brackets, （0-22）, and a subtitle that says where it
    was given are no clause), with no other sentence or clause punctuation and no form of address."""
    if not _shaped_as_title(words, _TITLE_LIMIT) or _ADDRESS.search(words):
        return False
    given_at = _TITLE_OCCASION.search(words)
    head = _TRAILING_REMARK.sub("", words[:given_at.start()] if given_at and given_at.start() else words)
    clauses = re.split(r"[，,]", head)
    if not _PARALLEL_CLAUSES[0] <= len(clauses) <= _PARALLEL_CLAUSES[1] or any(
            _TITLE_PUNCT.search(clause) for clause in clauses):
        return False
    sizes = [len(_IDEOGRAPH.findall(clause)) for clause in clauses]
    return min(sizes) >= _CLAUSE_IDEOGRAPHS and 2 * min(sizes) >= max(sizes)


def _cut_at_the_edge(line: str, next_line: str) -> bool:
    """Whether ``line`` is a paragraph's line that print wrapped at the page's edge: it ``wraps`` into
    ``next_line``, and ``next_line`` is as wide (``_WRAP_SLACK``), cut at the same edge, or shorter and
    closing the sentence, the paragraph's last line. A title's first paragraph is neither as a rule: a
    line of its own (one paragraph a line), a page wide when the title is not, or 同志们：."""
    if not wraps(line, next_line):
        return False
    return (abs(len(next_line) - len(line)) <= _WRAP_SLACK
            or (len(next_line) < len(line) and bool(_CLOSES_SENTENCE.search(next_line))))


def _is_title(lines: list[_Line], index: int) -> bool:
    """Whether ``lines[index]``, the first line of a speech without a 目录, is its title: a line that
    ``_looks_like_title``, or a line of ``_parallel_clauses`` with more text under it that does not go on
    in it, or a line ``_shaped_as_title`` within ``_HEADED_TITLE_LIMIT`` that a header block follows at
    once, or a date line or a byline and then more text, if it ends no sentence; never such a line
    itself."""
    words = lines[index].words
    if _is_metadata(words):
        return False
    if _looks_like_title(words):
        return True
    under = index + 1
    if under == len(lines) or not _shaped_as_title(words, _HEADED_TITLE_LIMIT):
        return False
    if _parallel_clauses(words) and not _cut_at_the_edge(lines[index].text, lines[under].text):
        return True
    # a date line says less than a header: a speech of one sentence may close on its date
    return _header_end(lines, under) > under or (
        _is_metadata(lines[under].words) and under + 1 < len(lines) and not _SENTENCE_END.search(words))


def _toc(lines: list[_Line]) -> tuple[int, int, list[str]]:
    """(index of the first TOC line, index after the TOC, titles); (0, 0, []) when there is none."""
    head = next((i for i, line in enumerate(lines[:10]) if _TOC_HEAD.fullmatch(line.words)), None)
    if head is not None:
        first = _first_toc_entry(lines, head)
    else:
        first = next((i for i, line in enumerate(lines[:10]) if _TOC_ENTRY_PAGED.fullmatch(line.words)), None)
        if first is None or first + 1 >= len(lines) or not _TOC_ENTRY_PAGED.fullmatch(lines[first + 1].words):
            return 0, 0, []
        head = first
    titles = []
    end = first
    while end < len(lines) and len(lines[end].text) <= 200 and (entry := _TOC_ENTRY.fullmatch(lines[end].words)):
        titles.append(_printed(lines[end].text, entry, 2).strip())
        end += 1
    if not titles and head < first:
        return _unnumbered_toc(lines, head)
    return (head, end, titles) if titles else (0, 0, [])


def _first_toc_entry(lines: list[_Line], head: int) -> int:
    """Where the numbered entries under the 目录 head at ``head`` begin: past up to ``_TOC_NOTE_LINES`` short
    lines of notes (共计3篇, （按发言顺序排列）, 标题……页码, 二〇二四年三月), else right under the head. A note
    line ended the 目录 before it began, and the compilation was read as one speech, its titles headings."""
    for first in range(head + 1, min(head + 2 + _TOC_NOTE_LINES, len(lines))):
        if _TOC_ENTRY.fullmatch(lines[first].words):
            return first
        if len(lines[first].words) > _TOC_NOTE_CHARS:
            break
    return head + 1


def _unnumbered_toc(lines: list[_Line], head: int) -> tuple[int, int, list[str]]:
    """``_toc`` for a 目录 whose entries carry no numbers (标题<tab>3, or the titles alone): its lines
    up to the first that repeats one of them, where the body's first speech begins. Without that
    repeat nothing tells the entries from the body, and there is no TOC."""
    titles: list[str] = []
    keys: set[str] = set()
    for end in range(head + 1, len(lines)):
        text = lines[end].text
        if _title_key(text) in keys:
            return head, end, titles
        entry = _TOC_ENTRY_BARE.fullmatch(text)
        title = entry.group(1).strip() if entry else ""
        if not title or len(title) > _TOC_TITLE_LIMIT or _SENTENCE_END.search(title) or _classify(title)[0] != "paragraph":
            return 0, 0, []
        titles.append(title)
        keys.add(_title_key(title))
    return 0, 0, []


def _collection_occasion(collection: str) -> dict[str, str]:
    """``{"occasion": …}`` when a compilation's title names the meeting its speeches were given at."""
    found = _COLLECTION_OCCASION.search(simplified(collection))
    return {"occasion": _printed(collection, found, 1)} if found else {}


def _inferred_title(blocks: tuple[Block, ...], source: str) -> str:
    for block in blocks:
        if block.kind == "heading":
            title = _strip_marker(block.heading)
            if title:
                return title
    # a 目录 line whose entries could not be told from the body names no speech
    opening = next((block.text for block in blocks if not _TOC_HEAD.fullmatch(simplified(block.text))), "")
    # a title is one line, and a block joined from wrapped lines holds several
    sentence = _SENTENCE_END.split(opening.split("\n", 1)[0][:200], maxsplit=1)[0].strip()
    if sentence:
        return sentence[:_TITLE_LIMIT]
    return Path(source).stem


def _header(lines: list[_Line], source: str, *,
            allow_open: bool = False) -> tuple[dict[str, str], int, list[str]]:
    """The metadata of a header block at the start of ``lines`` (``_header_end``), how many lines it
    takes, and a warning naming each of its lines it cannot use: a date it cannot read (left unset), a
    key it has no field for, a field an earlier line of the block gave otherwise (the first is kept).
    The speeches are indexed all the same."""
    first = 1 if allow_open and lines and _HEADER_END.fullmatch(lines[0].words) else 0
    end = _header_end(lines, first, titled=first == 1 or not allow_open)
    if end == first:
        return {}, 0, []
    fields: dict[str, str] = {}
    warnings: list[str] = []
    for line in lines[first:end]:
        field = _header_field(line)
        if isinstance(field, str):
            warnings.append(f"{source}: header line {as_read(line.text)} {field}")
            continue
        name, value = field
        if fields.setdefault(name, value) != value:
            warnings.append(f"{source}: header line {as_read(line.text)} gives the {name} again — left out, "
                            f"the block's first {name} ({as_read(fields[name])}) kept")
    return fields, end + 1 if end < len(lines) and _HEADER_END.fullmatch(lines[end].words) else end, warnings


def _header_end(lines: list[_Line], start: int, *, titled: bool = True) -> int:
    """Where the header block opening at ``lines[start]`` ends, at its ``---`` or its first other line;
    ``start`` when no block opens there.

    A block is header lines (键：值) and the lines a byline prints under a title (a date line, an
    occasion, a speaker), in any order, that holds a header line or is closed by ``---``: a date line or
    a byline alone is ``_dated_line``'s and ``_byline``'s to read. Closed by ``---`` and holding a header
    line, it may hold 键：值 lines of keys the index has no field for (主持人：王五), which ``_header`` names
    in a warning; without ``---`` so is one between two lines the block reads, and one after the last
    is body text. ``titled``: a title or a ``---``
    stands above ``start``. Where none does, at the top of a file, the block opens with a line it reads:
    the first line may be the title, with a subtitle (坚定信念：勇毅前行).
    """
    end = start
    while end < len(lines) and (_is_metadata(lines[end].words) or _HEADER_LIKE.fullmatch(lines[end].words)):
        end += 1
    block = lines[start:end]
    if (block and end < len(lines) and _HEADER_END.fullmatch(lines[end].words)
            and (titled or _is_metadata(block[0].words))
            and (any(_HEADER_LINE.fullmatch(line.words) for line in block)
                 or all(_is_metadata(line.words) for line in block))):
        return end
    # without ---, the block runs to its last line the index reads: a 主持人：王五 between two such lines is
    # the block's (named in a warning; it had ended the block, and 讲话人：吴十 after it became body text),
    # one after the last is the body's; and it opens with such a line (坚定信念：勇毅前行 above one is the title)
    while end > start and not _is_metadata(lines[end - 1].words):
        end -= 1
    if end == start or not _is_metadata(lines[start].words):
        return start
    return end if any(_HEADER_LINE.fullmatch(line.words) for line in lines[start:end]) else start


def _header_field(line: _Line) -> tuple[str, str] | str:
    """The field and value a header block's line gives, or why it gives none (for a warning)."""
    if header := _HEADER_LINE.fullmatch(line.words):
        name = _HEADER_KEYS["".join(header["key"].split()).lower()]
        if name != "date":
            return name, _printed(line.text, header, "value").strip()
        written = DATE_VALUE.fullmatch(header["value"].strip())
    elif not (written := _DATED_LINE.fullmatch(line.words)):
        keys = ", ".join(key for key in _HEADER_KEYS if not key.isascii())
        return _byline_field(line) or f"names no field the index keeps ({keys}) — left out"
    date = iso_date(written) if written else None
    return ("date", date) if date else (f"{why_no_date(written)} — the date is left unset; "
                                        "write it as 日期：2023-04-15 or 日期：2023年4月15日")


def _is_metadata(words: str) -> bool:
    """Whether a line, as ``_Line.words`` reads it, says who gave a speech, when or where
    (``_METADATA_LINES``)."""
    return any(pattern.fullmatch(words) for pattern in _METADATA_LINES)


def _byline(body: list[_Line]) -> tuple[dict[str, str], list[int]]:
    """The occasion and speaker a speech's first lines print under its title (``_OCCASION_LINE``,
    ``_SPEAKER_LINE``; a date line may sit among them), and those lines' indices in ``body``."""
    fields: dict[str, str] = {}
    used: list[int] = []
    for index, line in enumerate(body[:_BYLINE_LINES]):
        if (field := _byline_field(line)) and field[0] not in fields:
            fields[field[0]] = field[1]
            used.append(index)
        elif not _DATED_LINE.fullmatch(line.words):
            break
    return fields, used


def _byline_field(line: _Line) -> tuple[str, str] | None:
    """The occasion (``_OCCASION_LINE``) or the speaker (``_SPEAKER_LINE``) a byline's line names, as printed."""
    if occasion := _OCCASION_LINE.fullmatch(line.words):
        return "occasion", _printed(line.text, occasion, 1).strip()
    if speaker := _SPEAKER_LINE.fullmatch(line.words):
        return "speaker", f"{_printed(line.text, speaker, 1)} {_printed(line.text, speaker, 2)}"
    return None


def _dated_line(body: list[_Line]) -> tuple[str | None, int | None, list[_Line]]:
    """The date of the first line that is only a full, real day among the first three body lines or
    the last, and that line's index in ``body`` (None, None without one); and those of these lines that
    look like a date but name no day (2023年10月, 2023年2月30日), which stay text, also beside a full date."""
    positions = dict.fromkeys((*range(min(3, len(body))), len(body) - 1)) if body else {}
    read = [(index, iso_date(dated)) for index in positions if (dated := _DATED_LINE.fullmatch(body[index].words))]
    date, at = next(((date, index) for index, date in read if date), (None, None))
    return date, at, [body[index] for index, date in read if date is None]


def parse_text(text: str, source: str, *, sidecar: dict | None = None) -> list[Speech]:
    """Split one file's text into its speeches; [] when it holds no body text at all.

    ``sidecar`` is ``index.sidecar.read_sidecar``'s result for the file's metadata file, if it has one.
    """
    return _parse(text, source, sidecar)[0]


def _parse(text: str, source: str, sidecar: dict | None,
           furniture: Counter[str] | None = None) -> tuple[list[Speech], list[str]]:
    """``parse_text``'s speeches and a warning for each thing of the text it could not use or left
    out: page furniture, a date it cannot read, a 目录 entry that names no speech of the body.

    ``furniture`` is the page furniture ``_read`` found in the file it read ``text`` from, by default
    the furniture of ``text`` itself (a line left on its page by a glued marker repeats fewer times
    in what ``_read`` keeps).
    """
    kept = [line for line in _lines(text) if not _is_noise(line.words)]
    furniture = _page_furniture(kept) if furniture is None else furniture
    lines = [line for line in kept if line.text not in furniture]
    warnings = [_furniture_warning(source, furniture)] if furniture else []
    file_header, used, problems = _header(lines, source, allow_open=True)
    warnings += problems
    lines = lines[used:]
    toc_head, toc_end, toc_titles = _toc(lines)  # the front matter before the TOC goes with it
    front = [line.text for line in lines[:toc_head] if _looks_like_title(line.words)] if toc_titles else []
    parts: list[tuple[str | None, list[_Line]]] = []
    if toc_titles:
        wanted = {_title_key(title) for title in toc_titles}
        matched: set[str] = set()
        current: tuple[str | None, list[_Line]] = (None, [])
        for line in lines[toc_end:]:
            if (key := _title_key(line.words)) in wanted:
                matched.add(key)
                parts.append(current)
                current = (line.text, [])
            else:
                current[1].append(line)
        parts.append(current)
        warnings += [f"{source}: 目录 entry {as_read(title)} matches no line of the body — its text stays in the "
                     "speech before it, or in an untitled first speech" for title in toc_titles
                     if _title_key(title) not in matched]
    else:
        if _opens_with_series_header(lines):  # read as a compilation's front matter is
            front, lines = [lines[0].text], lines[1:]
        if lines and _is_title(lines, 0):
            parts.append((lines[0].text, lines[1:]))  # a title with no body is no speech
        else:
            parts.append((None, lines))

    sidecar = sidecar or {"file": {}, "speeches": {}}
    if not toc_titles and sidecar["speeches"]:
        parts = _split_at_named_titles(parts[0], sidecar["speeches"])
    parts = [piece for part in parts for piece in _split_at_headed_titles(part)]
    unknown = sorted(set(sidecar["speeches"]) - {title for title, _ in parts if title})
    if unknown:
        raise SidecarError(f"{source}: its metadata names no speech titled {as_read(unknown[0])}")
    speeches = []
    seen: dict[str, int] = {}
    for title, body in parts:
        speech_header, used, problems = _header(body, source) if title is not None else ({}, 0, [])
        warnings += problems
        body = body[used:]
        byline, printed = _byline(body) if title is not None else ({}, [])
        body = [line for index, line in enumerate(body) if index not in printed]  # metadata, no passage
        date, dated, undated = _dated_line(body)
        if date:  # the speech's date line is metadata like a header line, no passage of its own
            body = body[:dated] + body[dated + 1:]
        if not body:
            continue
        blocks = _blocks(body)
        named = sidecar["speeches"].get(title, {})  # a sidecar names the title as the file prints it
        inferred = title is None
        title = visible(_inferred_title(blocks, source) if inferred else title)
        metadata = {"collection": front[0]} | _collection_occasion(front[0]) if front else {}
        if not inferred and (given_at := _TITLE_OCCASION.search(simplified(title))):
            metadata["occasion"] = _printed(title, given_at, 1)
        metadata.update(file_header)
        metadata.update(sidecar["file"])
        if date:
            metadata["date"] = date
        metadata.update(byline)
        metadata.update(speech_header)
        metadata.update(named)
        warnings += [f"{source}: dated line {as_read(line.text)} of 《{title}》 "
                     f"{why_no_date(_DATED_LINE.fullmatch(line.words))} — kept as text, not read as the speech's date"
                     for line in undated]
        seen[title] = seen.get(title, 0) + 1
        speech_id = hashlib.sha1(f"{source}\n{title}".encode()).hexdigest()[:12]
        if seen[title] > 1:
            speech_id += f"-{seen[title]}"
        speeches.append(Speech(id=speech_id, title=title, source=source, start=blocks[0].start,
                               end=blocks[-1].end, blocks=blocks, title_inferred=inferred,
                               **{name: _one_spaced(value) for name, value in metadata.items()}))
    return speeches, warnings


def _opens_with_series_header(lines: list[_Line]) -> bool:
    """Whether a file without a 目录 opens with the header of the series or issue it was reprinted from,
    then the speech's title and that title's byline, date or header line."""
    if len(lines) < 3 or not _looks_like_title(lines[0].words) or not _SERIES_HEADER.fullmatch(lines[0].words):
        return False
    return _is_title(lines, 1) and _is_metadata(lines[2].words)


def _one_spaced(value: str) -> str:
    """A metadata value spaced the same whatever its source: each run of whitespace (U+3000 included)
    one space, none at the ends, as a byline's 市委书记　张三 is read (市委书记 张三), and no zero-width mark."""
    return " ".join(visible(value).split())


def _split_at_named_titles(part: tuple[str | None, list[_Line]],
                           named: Sequence[str]) -> list[tuple[str | None, list[_Line]]]:
    """A file without a 目录 cut into speeches at the body lines its sidecar names as speech titles:
    the librarian's word that the file holds those speeches, where nothing in the text marks them."""
    wanted = {_title_key(title) for title in named}
    title, body = part
    parts = [(title, [])]
    for line in body:
        if _title_key(line.words) in wanted and len(line.text) <= _TOC_TITLE_LIMIT:
            parts.append((line.text, []))
        else:
            parts[-1][1].append(line)
    return parts


def _split_at_headed_titles(part: tuple[str | None, list[_Line]]) -> list[tuple[str | None, list[_Line]]]:
    """A part cut where a title line is followed at once by a speech header closed by ``---``, or by a
    byline that says where the speech was given and who gave it (——在…上的讲话, then 市委书记　张三, a date
    line maybe between): files joined into one, or a collection printed without a 目录, keep each
    speech's title and header or byline, which a paragraph never looks like. Header lines without their
    ``---`` or their title line (日期：… quoted under a heading) stay body text."""
    title, body = part
    parts = [(title, [])]
    for index, line in enumerate(body):
        if _opens_headed_speech(body, index):
            parts.append((line.text, []))
        else:
            parts[-1][1].append(line)
    return parts


def _opens_headed_speech(lines: list[_Line], index: int) -> bool:
    """Whether ``lines[index]`` is a title (``_looks_like_title`` or ``_parallel_clauses``) followed at once
    by a header block (``_header_end``) that holds a header line and is closed by a ``---`` line, or by a
    byline (``_byline``) that says where the speech was given and who gave it: a speech may quote
    another's title, where it was given and when (a re-tester's file did), but not who gave it in a line
    of its own."""
    words = lines[index].words
    titled = _looks_like_title(words) or _parallel_clauses(words)
    if not titled or _is_metadata(words) or _HEADER_END.fullmatch(words):
        return False
    if {"occasion", "speaker"} <= _byline(lines[index + 1:index + 1 + _BYLINE_LINES])[0].keys():
        return True
    end = _header_end(lines, index + 1)
    return (index + 1 < end < len(lines) and bool(_HEADER_END.fullmatch(lines[end].words))
            and any(_HEADER_LINE.fullmatch(line.words) for line in lines[index + 1:end]))


def _furniture_warning(source: str, furniture: Counter[str]) -> str:
    named = [_quote(text) + (f" ×{count}" if count > 1 else "")
             for text, count in list(furniture.items())[:_FURNITURE_NAMED]]
    more = f" and {len(furniture) - _FURNITURE_NAMED} more" if len(furniture) > _FURNITURE_NAMED else ""
    return f"{source}: left out as page furniture: {', '.join(named)}{more}"


def load_corpus(*sources: Path, progress: bool = False) -> tuple[list[Speech], list[str]]:
    """Parse every ``.txt`` and ``.docx`` file of ``sources`` (each a folder, read by
    ``index.corpus.corpus_files``, or one such file), skipping bad files with a warning each
    (``index.corpus.check_source`` refuses a bad source).

    Returns the speeches in file order and a warning, naming the file, for each skipped file
    (other kinds of file included, and a file whose text another already gave: of files with one
    text the first in file order is kept, a file named as a copy, ``index.corpus.named_as_copy``, only
    when all are), each file read with bad bytes replaced, each ignored sidecar, each file's page
    furniture, each date it cannot read, each 目录 entry that matches no line, each line left out as an
    advertisement and each file indexed with a line over ``LONG_LINE_CHARS``. Files are named as
    ``index.corpus.corpus_named`` names them.
    """
    files, warnings = corpus_named([Path(source) for source in sources])
    # files named as copies are read last, so that a copy and not its original is the one skipped
    order = sorted(range(len(files)), key=lambda index: named_as_copy(files[index][1]))
    if progress:
        from tqdm import tqdm

        order = tqdm(order, desc="parse", unit="file")
    seen: dict[str, str] = {}
    loaded = {index: _load_file(*files[index], seen) for index in order}
    speeches = [speech for index in range(len(files)) for speech in loaded[index][0]]
    warnings += [warning for index in range(len(files)) for warning in loaded[index][1]]
    return speeches, warnings


def _load_file(path: Path, name: str, seen: dict[str, str]) -> tuple[list[Speech], list[str]]:
    """One corpus file's speeches and warnings (``load_corpus``); ``seen`` maps the digest of each text
    read so far to its file's name, and gains this file's."""
    try:
        data = path.read_bytes()
    except OSError as error:
        return [], [f"{name}: skipped, unreadable ({error.strerror})"]
    if not data.strip():
        return [], [f"{name}: skipped, empty file"]
    try:
        canonical, warnings = canonical_file(data, name)
    except CorpusError as error:
        return [], [f"{error} (skipped)"]
    if not canonical.strip():  # only whitespace the byte check cannot see, such as U+3000
        return [], [*warnings, f"{name}: skipped, empty file"]
    digest = hashlib.sha1(canonical.encode()).hexdigest()
    if digest in seen:
        return [], [*warnings, f"{name}: skipped, same content as {seen[digest]}"]
    seen[digest] = name
    text, furniture = _read(canonical)
    found, notes = _parse_file(text, name, path.with_suffix(SIDECAR_SUFFIX), furniture)
    if not found:
        reason = "only a title, no body" if "\n" not in canonical else "no body text"
        return [], [*warnings, f"{name}: skipped, {reason}"]
    warnings.extend(notes)
    warnings.extend(f"{name}: {LEFT_OUT_AS_AD}: {_quote(ad)}" for ad in _advertisements(canonical))
    longest = max(map(len, text.splitlines()))
    if longest > LONG_LINE_CHARS:
        warnings.append(f"{name}: a line of {longest:,} characters with no line break; "
                        "indexed, cut into passages at sentence ends")
    return found, warnings


def _parse_file(text: str, name: str, sidecar_path: Path,
                furniture: Counter[str]) -> tuple[list[Speech], list[str]]:
    """``_parse`` with the file's sidecar, if it has one, and a warning when that sidecar cannot
    be used: the metadata is wrong, not the speeches, so they are indexed without it."""
    if not sidecar_path.exists():
        return _parse(text, name, None, furniture)
    try:
        sidecar = read_sidecar(sidecar_path)
        speeches, warnings = _parse(text, name, sidecar, furniture)
        return speeches, [*sidecar["warnings"], *warnings]
    except SidecarError as error:
        sidecar = Path(name).with_suffix(SIDECAR_SUFFIX).as_posix()
        speeches, warnings = _parse(text, name, None, furniture)
        return speeches, [f"{error} — {sidecar} ignored, {name} indexed without its metadata", *warnings]


def _quote(line: str) -> str:
    """A left-out line as its warning quotes it, cut short (``as_read``)."""
    return as_read(line if len(line) <= _AD_QUOTE else line[:_AD_QUOTE] + "…")
