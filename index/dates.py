"""Dates as speeches print them → the day they name, in ISO form, or why they name none.

A header's 日期, a dated line under a title and a sidecar's ``date`` are read by one pattern
(``DATE``): 2023-04-15, 2023/4/15, 2023.4.15, 2023年4月15日 or 二〇二三年四月十五日, each also with its
weekday. ``iso_date`` gives the day only where the value names a real one whose weekday, if printed,
agrees; ``why_no_date`` says why not, for the warning that names the line.
"""
from __future__ import annotations

import datetime
import re

# 2023年4月15日, 二〇二三年四月十五日, 2023-04-15, 2023/4/15, 2023.4.15; to the month (2023年10月,
# 二〇二三年十月, 2023-10) it is read too, so that the build can say the day is missing.
_CN_DIGITS = {**{digit: value for value, digit in enumerate("〇一二三四五六七八九")}, "零": 0, "○": 0}
_CN_UNIT = r"[一二三]?十[一二三四五六七八九]?|[一二三四五六七八九]"
DATE = (rf"(?P<year>\d{{4}}|[{''.join(_CN_DIGITS)}]{{4}})\s*"
         rf"(?:年\s*(?P<month>\d{{1,2}}|{_CN_UNIT})\s*月(?:\s*(?P<day>\d{{1,2}}|{_CN_UNIT})\s*[日号])?"
         r"|[-/.]\s*(?P<month_>\d{1,2})(?:\s*[-/.]\s*(?P<day_>\d{1,2}))?)"
         # the weekday a day is printed with: 2023年4月15日（星期六）, 2023-04-15 周六, 礼拜六
         r"(?:\s*[（(]?\s*(?:星期|周|礼拜)(?P<weekday>[一二三四五六日天])\s*[）)]?)?")
_WEEKDAYS = "一二三四五六日"  # Monday first, as datetime.date.weekday counts
DATE_VALUE = re.compile(DATE)


def _number(numeral: str) -> int:
    """An Arabic or Chinese number as a date writes it: 2023, 二〇二三 (digit by digit), 十五, 二十一."""
    if numeral.isdigit():
        return int(numeral)
    tens, ten, ones = numeral.partition("十")
    if not ten:
        return int("".join(str(_CN_DIGITS[digit]) for digit in numeral))
    return (_CN_DIGITS[tens] if tens else 1) * 10 + (_CN_DIGITS[ones] if ones else 0)


def _day(match: re.Match) -> datetime.date | None:
    """The day a DATE match names, None when it names no real day (2023年2月30日) or no day at all."""
    month, day = match["month"] or match["month_"], match["day"] or match["day_"]
    if day is None:
        return None
    try:
        return datetime.date(_number(match["year"]), _number(month), _number(day))
    except ValueError:
        return None


def iso_date(match: re.Match) -> str | None:
    """The ISO date of a DATE match, None when it names no real day (2023年2月30日), no day at all
    (2023年10月) or a weekday the day is not: ``Speech.date`` is a full date, which filters and the API
    compare as one, and of a day and a weekday that disagree nothing tells which is the typo."""
    day = _day(match)
    if day is None or (match["weekday"] and _weekday(day) != match["weekday"].replace("天", "日")):
        return None
    return day.isoformat()


def _weekday(day: datetime.date) -> str:
    return _WEEKDAYS[day.weekday()]


def why_no_date(match: re.Match | None) -> str:
    """Why a date-like value gave no date, for a warning."""
    if match is None:
        return "is not a date"
    if not (match["day"] or match["day_"]):
        return "names no day, only the month"
    day = _day(match)
    return f"names 星期{match['weekday']}, but {day} is a 星期{_weekday(day)}" if day else "is no real day"
