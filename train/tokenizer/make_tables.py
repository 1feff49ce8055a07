"""Writes bert-tables.json: what the official FLIP text pipeline's tokenizer does with every code point.

Two parts: the NFKC_Casefold mapping of every code point, and the character classes its regular expressions see.

The official input pipeline tokenizes with tensorflow_text.BertTokenizer(vocab, lower_case=True), whose first step is
tensorflow_text.case_fold_utf8: ICU's NFKC_Casefold normalizer (Normalizer2::getNFKCCasefoldInstance), i.e. NFKC,
full Unicode case folding (CaseFolding.txt C+F: "ß" -> "ss", final "ς" -> "σ", Cherokee, ...) and removal of the
Default_Ignorable_Code_Points, all in one. JavaScript has NFKC (String.prototype.normalize) but no case folding, so
flip carries the mapping as data. It is taken from tensorflow_text itself (the ICU data TensorFlow bundles), one code
point at a time, not from Python's unicodedata (Python 3.11 is Unicode 14; TF's ICU is newer) nor from Node's ICU.

Since the BertTokenizer applies NFD right after case folding, only the per-code-point mapping matters: for any string
s, NFD(NFKC_Casefold(s)) == NFD(concat(NFKC_Casefold(c) for c in s)) (NFKC_Casefold is a normalization whose
decomposition mapping of each character is its NFKC_CF value; composition is undone by the NFD). The test
test/train/bert-vocab.test.ts checks the result against tensorflow_text's ids.

The BertTokenizer's other steps are regular expressions: tf.strings.regex_replace(\\p{Mn} -> "") after the NFD,
tf.strings.regex_replace(\\p{Cc}|\\p{Cf} -> " "), then tensorflow_text's regex_split at whitespace (dropped) and at
punctuation and CJK ideographs (kept). Their character classes are those of the RE2 that TensorFlow bundles, whose Unicode
version is older than Node's (Node 20.20 has Unicode 17: V8's \\p{Mn} and \\p{P} know characters RE2 does not). So the
classes are data too, taken from those very ops, one code point at a time.

Format (compact; ranges are [first, last], inclusive):
  casefold.removed: [[first, last], ...]          code points that map to nothing (default ignorables)
  casefold.runs:    [[first, count, step, delta]]  first + k*step  ->  first + k*step + delta, k < count (one code point)
  casefold.strings: [[cp, "mapping"], ...]         code points that map to something else (several code points, ...)
  (every code point not listed maps to itself)
  mn:      ranges removed after the NFD (\\p{Mn} as TF's regex_replace sees it)
  control: ranges replaced by a space (\\p{Cc}|\\p{Cf} as TF's regex_replace sees it)
  space:   ranges at which regex_split splits, dropping them (\\s)
  delim:   ranges at which regex_split splits, keeping each as a word (punctuation, CJK ideographs)

Run from the repository root with the venv of test/fixtures/bert-vocab/make_fixtures.py (tensorflow-text 2.21.1):
  test/fixtures/bert-vocab/.venv/bin/python train/tokenizer/make_tables.py
"""

import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

import tensorflow as tf
import tensorflow_text as tftx

from tensorflow_text.python.ops import bert_tokenizer

HERE = os.path.dirname(os.path.abspath(__file__))
CODE_POINTS = [c for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF]


def ranges(cps):
    out = []
    for c in cps:
        if out and out[-1][1] == c - 1:
            out[-1][1] = c
        else:
            out.append([c, c])
    return out


def batched(fn, strings, n=65536):
    out = []
    for i in range(0, len(strings), n):
        out.extend(fn(tf.constant(strings[i:i + n])))
    return out


def classes():
    chars = [chr(c).encode("utf-8") for c in CODE_POINTS]
    mn = batched(lambda t: tf.strings.regex_replace(t, r"\p{Mn}", "").numpy(), chars)
    control = batched(lambda t: tf.strings.regex_replace(t, r"\p{Cc}|\p{Cf}", " ").numpy(), chars)
    # the split itself, on "a<c>b": [a, b] is a dropped delimiter, [a, <c>, b] a kept one, [a<c>b] none. Cc and Cf
    # never reach it (replaced by a space before; NUL would even end the string there: regex_split reads a C string)
    is_control = {c for c, r in zip(CODE_POINTS, control) if r == b" " and c != 0x20}
    probe = [(c, ch) for c, ch in zip(CODE_POINTS, chars) if c not in is_control]
    words = [b"a" + ch + b"b" for _, ch in probe]
    split = batched(lambda t: tftx.regex_split(t, bert_tokenizer._DELIM_REGEX_PATTERN,
                                                bert_tokenizer._KEEP_DELIM_NO_WHITESPACE_PATTERN).to_list(), words)
    space, delim = [], []
    for (c, ch), parts in zip(probe, split):
        if parts == [b"a", b"b"]:
            space.append(c)
        elif parts == [b"a", ch, b"b"]:
            delim.append(c)
        elif parts != [b"a" + ch + b"b"]:
            raise SystemExit(f"U+{c:04X}: unexpected split {parts}")
    return {
        "mn": ranges([c for c, r in zip(CODE_POINTS, mn) if r == b""]),
        "control": ranges(sorted(is_control)),
        "space": ranges(space),
        "delim": ranges(delim),
    }


def fold_all():
    cps = CODE_POINTS
    out = {}
    for i in range(0, len(cps), 65536):
        chunk = cps[i:i + 65536]
        folded = tftx.case_fold_utf8(tf.constant([chr(c).encode("utf-8") for c in chunk])).numpy()
        for c, f in zip(chunk, folded):
            s = f.decode("utf-8")
            if s != chr(c):
                out[c] = s
    return out


def main():
    mapping = fold_all()
    removed, singles, strings = [], [], []
    for c in sorted(mapping):
        m = mapping[c]
        if m == "":
            if removed and removed[-1][1] == c - 1:
                removed[-1][1] = c
            else:
                removed.append([c, c])
        elif len(m) == 1:
            singles.append((c, ord(m) - c))
        else:
            strings.append([c, m])
    # greedy runs of equal delta at a constant step (1 for A-Z, 2 for the alternating Latin Extended blocks)
    runs = []
    i = 0
    while i < len(singles):
        c, d = singles[i]
        best = (1, 1)
        for step in (1, 2):
            n = 1
            while i + n < len(singles) and singles[i + n] == (c + n * step, d):
                n += 1
            if n > best[0]:
                best = (n, step)
        n, step = best
        runs.append([c, n, step, d])
        i += n
    doc = {
        "source": f"tensorflow_text {tftx.__version__} / tensorflow {tf.__version__}: case_fold_utf8 (ICU NFKC_Casefold), "
                  "regex_replace and regex_split (RE2) of the BertTokenizer, every code point",
        "casefold": {"mapped": len(mapping), "removed": removed, "runs": runs, "strings": strings},
        **classes(),
    }
    path = os.path.join(HERE, "bert-tables.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(doc, f, ensure_ascii=True, separators=(",", ":"))
        f.write("\n")
    print(f"{len(mapping)} code points map elsewhere: {len(removed)} removed ranges, {len(runs)} runs, {len(strings)} strings; "
          + ", ".join(f"{k}: {sum(b - a + 1 for a, b in doc[k])} code points in {len(doc[k])} ranges" for k in ("mn", "control", "space", "delim"))
          + f"; wrote {path}")


if __name__ == "__main__":
    main()
