"""Literal readings of TFDS's mC4 code (tensorflow-datasets 4.9.x, `text/c4_utils.py` and
`text/c4.py`, C4 v3.1.0, Apache-2.0), used as test oracles, without TensorFlow or Beam:
`split_wet_file`, `select_newest_page`, `paragraph_filter`, `remove_duplicate_text` (its
`_emit_url_to_lines` / `Top.PerKey(1, key=_hash_text, reverse=True)` / `_remove_lines_from_text`
steps run in memory), `detect_languages` (the body of its `_PredictLanguageFn`, gcld3 on the
whole text under its lock), `get_badwords_filter_fn`, the badword lists as `c4.py` loads them,
and `reference_mc4`, which composes them as `C4._get_pages_pcollection` and `_split_generators`
do for the `multilingual` config. Functions keep TFDS's names and bodies; `tf.compat.as_text`
is the identity on str, and Beam counters go to `COUNTERS`. Not part of the package."""
import collections
import dataclasses
import gzip
import hashlib
import heapq
import io
import os
import re
import threading
from typing import Iterable, Mapping, Optional, Sequence, Tuple

from cleancrawl.corpus.sentences import split_sentences

COUNTERS: collections.Counter = collections.Counter()

_PAGE_DELIMITER = "WARC/1.0"
_URL_KEY = "WARC-Target-URI:"
_URL_DATE = "WARC-Date:"
_CONTENT_TYPE = "Content-Type:"
_CONTENT_LEN = "Content-Length:"
_METADATA_PREFIXES = ("WARC", "CONTENT-", "Content-")
_MIN_NUM_SENTENCES = 3
UNKNOWN_LANGUAGE = "und"

# c4.py
_BADWORDS_LANGS = ["ar", "cs", "da", "de", "en", "eo", "es", "fa", "fi", "fil", "fr", "fr-CA-u-sd-caqc", "hi",
                   "hu", "it", "ja", "kab", "ko", "nl", "no", "pl", "pt", "ru", "sv", "th", "tlh", "tr", "zh"]
_BADWORDS_ALLOWLIST = {"ja": {"sm", "グロ", "女の子"}, "zh": {"性"}}
BADWORDS_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                            "cleancrawl", "corpus", "data", "badwords")


@dataclasses.dataclass
class PageFeatures:
  url: str = ""
  normalized_url: str = ""
  text: str = ""
  timestamp: str = ""
  content_length: str = ""
  content_type: str = ""
  language: Optional[str] = None


def get_counter_inc_fn(namespace):
  def counter_inc_fn(counter, amt=1):
    COUNTERS[f"{namespace}/{counter}"] += amt

  return counter_inc_fn


def get_hashed_url_filter_fn(predicate_fn):
  def filter_fn(page):
    url = page.normalized_url
    val = int(
        hashlib.md5(url.encode("utf-8")).hexdigest(), 16
    )
    return predicate_fn(val)

  return filter_fn


def _get_sentences(text):
  return list(split_sentences(text))


langdetect_lock = threading.Lock()


def detect_languages(pages, valid_languages):
  """`c4_utils.detect_languages` without Beam: `_PredictLanguageFn` over a list."""
  import gcld3

  class _PredictLanguageFn:
    """Predicts page's language using cld3 and adds to features."""

    def __init__(self, valid_languages, min_probability=0.95):
      self._valid_languages = set(valid_languages)
      self._counter_inc_fn = get_counter_inc_fn("language-filter")
      self._min_probability = min_probability

    def start_bundle(self):
      with langdetect_lock:
        self._detector = gcld3.NNetLanguageIdentifier(
            # CLD3 is not expected to work well on very short documents.
            min_num_bytes=100,
            max_num_bytes=10000,
        )

    def process(self, page: PageFeatures):
      with langdetect_lock:
        result = self._detector.FindLanguage(page.text)
      if not result.is_reliable:
        self._counter_inc_fn("filtered:no_predictions")
        lang = UNKNOWN_LANGUAGE
      elif result.probability < self._min_probability:
        self._counter_inc_fn("filtered:low_confidence")
        lang = UNKNOWN_LANGUAGE
      else:
        lang = result.language
        if lang not in self._valid_languages:
          self._counter_inc_fn("filtered:ignored_language")
          return
      self._counter_inc_fn("passed")
      self._counter_inc_fn("passed:%s" % lang)
      yield dataclasses.replace(page, language=lang)

  fn = _PredictLanguageFn(valid_languages=valid_languages)
  fn.start_bundle()
  return [out for page in pages for out in fn.process(page)]


def _hash_text(text):
  return hashlib.md5(text.encode("utf-8")).hexdigest()


def _emit_url_to_lines(
    page: PageFeatures, line_delimiter="\n"
) -> Iterable[Tuple[str, str]]:
  """Emits url to all (lower-cased, hashed) lines."""
  text = page.text
  for line in text.split(line_delimiter):
    yield _hash_text(line.strip().lower()), page.url


def _remove_lines_from_text(
    el, counter_inc_fn, min_num_sentences, line_delimiter="\n"
) -> Iterable[PageFeatures]:
  url, join_values = el
  pages = join_values["pages"]

  assert len(pages) == 1, "Invalid page count (%d) for %s" % (len(pages), url)
  page = pages[0]
  text = page.text
  lines_to_keep = set(join_values["lines"])
  new_lines = []
  hashed_lines = set()
  for line in text.split(line_delimiter):
    hashed_line = _hash_text(line.strip().lower())
    if hashed_line not in lines_to_keep:
      counter_inc_fn("line-filtered:global_duplicate")
    elif hashed_line in hashed_lines:
      counter_inc_fn("line-filtered:local_duplicate")
    else:
      counter_inc_fn("line-passed")
      new_lines.append(line)
      hashed_lines.add(hashed_line)
  new_text = line_delimiter.join(new_lines)
  if not new_text:
    counter_inc_fn("filtered:empty")
    return
  if min_num_sentences and len(_get_sentences(new_text)) < min_num_sentences:
    counter_inc_fn("filtered:too_few_sentences")
    return
  counter_inc_fn("passed")
  yield dataclasses.replace(page, text=new_text)


def remove_duplicate_text(
    pages, min_num_sentences=_MIN_NUM_SENTENCES, line_delimiter="\n"
):
  """`c4_utils.remove_duplicate_text` without Beam (same steps, in memory)."""
  # FlatMap(_emit_url_to_lines) | Top.PerKey(1, key=_hash_text, reverse=True): per line hash,
  # the url whose md5 hex is smallest.
  emitted = collections.defaultdict(list)
  for page in pages:
    for line_hash, url in _emit_url_to_lines(page, line_delimiter=line_delimiter):
      emitted[line_hash].append(url)
  line_to_selected_url = [(h, heapq.nsmallest(1, urls, key=_hash_text)) for h, urls in emitted.items()]
  lines_to_keep = [(x[1][0], x[0]) for x in line_to_selected_url]
  # CoGroupByKey on url
  grouped = collections.defaultdict(lambda: {"pages": [], "lines": []})
  for p in pages:
    grouped[p.url]["pages"].append(p)
  for url, line in lines_to_keep:
    grouped[url]["lines"].append(line)
  out = []
  for el in grouped.items():
    out.extend(_remove_lines_from_text(
        el, counter_inc_fn=get_counter_inc_fn("dedupe-lines"),
        min_num_sentences=min_num_sentences, line_delimiter=line_delimiter))
  return out


def split_wet_file(wet_file_path, counter_inc_fn=None, line_delimiter="\n"):
  """Split a WET file into separate pages."""
  if not counter_inc_fn:
    counter_inc_fn = get_counter_inc_fn("split-wet-file")
  counter_inc_fn("wet-file")

  def _validate_features(page):
    """Return True if page features are valid."""
    if not page.url:
      counter_inc_fn("filtered:no_url")
    elif not page.text:
      counter_inc_fn("filtered:no_content")
    elif not page.timestamp:
      counter_inc_fn("filtered:no_timestamp")
    else:
      counter_inc_fn("passed")
      return True
    return False

  with open(wet_file_path, "rb") as f, gzip.GzipFile(
      fileobj=f
  ) as g:
    page = PageFeatures()
    for i, line in enumerate(io.TextIOWrapper(g, encoding="utf-8")):
      line = line.strip()
      if not line:
        continue
      if line == _PAGE_DELIMITER:
        if i > 0 and _validate_features(page):
          yield page
        page = PageFeatures()

      if line.startswith(_URL_KEY):
        page.url = line[len(_URL_KEY) :].strip()
        page.normalized_url = normalize_url(line[len(_URL_KEY) :].strip())

      if line.startswith(_URL_DATE):
        page.timestamp = line[len(_URL_DATE) :].strip()

      if line.startswith(_CONTENT_TYPE):
        page.content_type = line[len(_CONTENT_TYPE) :].strip()

      if line.startswith(_CONTENT_LEN):
        page.content_length = line[len(_CONTENT_LEN) :].strip()

      if line.startswith(_METADATA_PREFIXES):
        continue

      if page.text:
        page.text += line_delimiter
      page.text += line

    if _validate_features(page):
      yield page


def select_newest_page(pages):
  """Deterministically return as random page."""
  counter_inc_fn = get_counter_inc_fn("duplicate-url-filter")

  cnt = 0
  selected_page = None
  for p in pages:
    cnt += 1
    if not selected_page or p.timestamp > selected_page.timestamp:
      selected_page = p
  counter_inc_fn("filtered", cnt - 1)
  counter_inc_fn("passed")
  return selected_page


def is_valid_length(page: PageFeatures, max_length=1.9e5):
  """Returns False iff page's text is too long."""
  counter_inc_fn = get_counter_inc_fn("too-long-filter")
  if len(page.text) > max_length:
    counter_inc_fn("filtered")
    return False
  counter_inc_fn("passed")
  return True


def normalize_url(url):
  url = re.sub(r"https?:\/\/(www\.)?", "", url)
  url = re.sub(r"\?(utm_|ref|feed).*", "", url)
  url = url.rstrip("/")
  return url


def get_badwords_filter_fn(
    badwords: Mapping[str, Sequence[str]], filter_fraction: float = 1.0
):
  """Filters pages at given rate that contain language-specific bad word(s)."""
  badwords_regex = {}
  for lang, words in badwords.items():
    words = [re.escape(w) for w in words]
    badwords_regex[lang] = (
        # For Japanese, Thai, and Chinese, do not require word separations.
        re.compile("|".join(words))
        if lang in ("ja", "th", "zh")
        # For other languages, match only when flanked by non-word chars.
        else re.compile(r"(?:\W|^)({})(?:\W|$)".format("|".join(words)))
    )

  filter_ratio = float.as_integer_ratio(filter_fraction)
  keep_badword_page = get_hashed_url_filter_fn(
      lambda x: x % filter_ratio[1] >= filter_ratio[0]
  )

  def badwords_filter(page):
    lang = page.language.split("-")[0]  # remove suffix if present

    if lang in badwords_regex:
      text = page.text
      badwords_found = badwords_regex[lang].search(text.lower())
      if badwords_found is not None:
        if keep_badword_page(page):
          get_counter_inc_fn("badwords-filter")("soft-passed")
          get_counter_inc_fn("badwords-filter-%s" % lang)("soft-passed")
          return True
        get_counter_inc_fn("badwords-filter")("filtered")
        get_counter_inc_fn("badwords-filter-%s" % lang)("filtered")
        return False
      get_counter_inc_fn("badwords-filter-%s" % lang)("passed")

    get_counter_inc_fn("badwords-filter")("passed")
    return True

  return badwords_filter


def paragraph_filter(
    page, min_paragraphs=3, min_paragraph_len=200, line_delimiter="\n"
):
  """Returns False iff a page has too few or too short paragraphs."""
  lines = page.text.split(line_delimiter)
  # Filter out docs that don't have at least three "paragraphs"
  # (lines >= `min_paragraph_len` chars).
  if (
      len(lines) < min_paragraphs
      or min(heapq.nlargest(3, [len(l) for l in lines])) < min_paragraph_len  # noqa: E741
  ):
    get_counter_inc_fn("paragraph-filter")("filtered")
    return False
  get_counter_inc_fn("paragraph-filter")("passed")
  return True


def load_badwords():
  """`c4.py`: the lists of _BADWORDS_LANGS merged by language prefix, minus the allowlist."""
  badwords = collections.defaultdict(set)
  for lang in _BADWORDS_LANGS:
    path = os.path.join(BADWORDS_DIR, lang)
    lang = lang.split("-")[0]  # remove suffix if present
    with open(path, encoding="utf-8") as f:
      badwords[lang].update(l.strip() for l in f)  # noqa: E741

  for lang, allowlist in _BADWORDS_ALLOWLIST.items():
    badwords[lang] -= allowlist
  return badwords


def reference_mc4(pages, languages, badwords_filter_fraction=0.999):
  """The `multilingual` config's pages pipeline (after reading and the length filter) and its
  splits: {split name: sorted urls}, plus {url: (language, text)} of every kept page."""
  by_url = collections.defaultdict(list)
  for p in pages:
    by_url[p.normalized_url].append(p)
  pages = [select_newest_page(group) for group in by_url.values()]
  pages = [p for p in pages if paragraph_filter(p)]
  pages = remove_duplicate_text(pages, min_num_sentences=0)
  pages = detect_languages(pages, valid_languages=languages)
  keep = get_badwords_filter_fn(load_badwords(), filter_fraction=badwords_filter_fraction)
  pages = [p for p in pages if keep(p)]

  train_predicate_fn = lambda x: x % 1000 != 0  # noqa: E731
  validation_predicate_fn = lambda x: x % 1000 == 0  # noqa: E731

  def _filter(page, lang, predicate_fn):
    return page.language == lang and get_hashed_url_filter_fn(predicate_fn)(page)

  splits = {}
  for lang in list(languages) + [UNKNOWN_LANGUAGE]:
    splits[lang] = sorted(p.url for p in pages if _filter(p, lang, train_predicate_fn))
    splits[f"{lang}-validation"] = sorted(p.url for p in pages if _filter(p, lang, validation_predicate_fn))
  return splits, {p.url: (p.language, p.text) for p in pages}
