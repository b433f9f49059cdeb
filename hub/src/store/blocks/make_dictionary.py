"""Writes dictionary.txt, the preset dictionary the hub deflates its log blocks with (mod.rs, DICTIONARY).

Why it exists: a block holds 16 entries, too few for deflate to learn a survey note's words before
they end, so each block paid for its first use of every word. The dictionary gives deflate the words of
the provincial plans the surveys serve (the seed plans, in Vietnamese): every distinct word, lowercased,
NFC, ordered by count ascending (the most frequent last, nearest the data, where deflate reaches
them cheapest), joined by single spaces.

It was run once, from the project's root: python3 hub/src/store/blocks/make_dictionary.py ../shared/seeds/*.txt
The file must never change once stores hold blocks deflated with it (a test pins its hash): a new
dictionary needs a new mark byte in mod.rs, with the older one still read.
"""
import collections
import re
import sys
import unicodedata

text = unicodedata.normalize("NFC", "".join(open(p, encoding="utf-8").read() for p in sys.argv[1:]))
words = re.findall(r"\w+", text.lower())
count = collections.Counter(words)
ordered = sorted(count, key=lambda w: (count[w], w))
out = " ".join(ordered).encode("utf-8")
assert len(out) <= 32768, "deflate reaches back 32 KiB at most"
open("hub/src/store/blocks/dictionary.txt", "wb").write(out)
print(len(ordered), "words,", len(out), "bytes")
