"""Compare sentence segmenters on SQuAD paragraphs and the seed article.

Measures, per segmenter: gold answers cut by a sentence boundary (a proxy for wrong
splits: a SQuAD answer never legitimately spans two sentences), sentences/paragraph and
throughput. Run: python bench/segmenters.py ../shared/eval/squad-v1.1-dev-tune.json
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from pathlib import Path


def _spans_from_strings(text: str, parts: list[str]) -> list[tuple[int, int]]:
    spans, cursor = [], 0
    for part in parts:
        part = part.strip()
        if not part:
            continue
        i = text.find(part, cursor)
        if i < 0:
            continue
        spans.append((i, i + len(part)))
        cursor = i + len(part)
    return spans


def make_segmenters() -> dict[str, Callable[[str], list[tuple[int, int]]]]:
    import blingfire
    import pysbd
    import sentencex
    import syntok.segmenter as syn

    seg = pysbd.Segmenter(language="en", clean=False, char_span=True)

    def f_pysbd(t: str) -> list[tuple[int, int]]:
        return [(s.start, s.end) for s in seg.segment(t)]

    def f_blingfire(t: str) -> list[tuple[int, int]]:
        _, offs = blingfire.text_to_sentences_and_offsets(t)
        return [(int(a), int(b)) for a, b in offs]

    def f_sentencex(t: str) -> list[tuple[int, int]]:
        return _spans_from_strings(t, list(sentencex.segment("en", t)))

    def f_syntok(t: str) -> list[tuple[int, int]]:
        out = []
        for para in syn.analyze(t):
            for sent in para:
                toks = list(sent)
                if toks:
                    out.append((toks[0].offset, toks[-1].offset + len(toks[-1].value)))
        return out

    def f_briefing(t: str) -> list[tuple[int, int]]:
        from corpus.segmenter import split_sentences

        return [(s.start, s.end) for s in split_sentences(t)]

    segs = {
        "pysbd": f_pysbd,
        "blingfire": f_blingfire,
        "sentencex": f_sentencex,
        "syntok": f_syntok,
    }
    try:
        import corpus.segmenter  # noqa: F401

        segs["briefing"] = f_briefing
    except ImportError:
        pass
    return segs


def main() -> None:
    data = json.loads(Path(sys.argv[1]).read_text())
    paras = [(p["context"], p["qas"]) for a in data["data"] for p in a["paragraphs"]]
    seed = Path(__file__).resolve().parents[1] / "../shared/seed/2014-06-23-isis-deir-ez-zor.txt"
    for name, fn in make_segmenters().items():
        cut = total = n_sent = 0
        t0 = time.perf_counter()
        for ctx, qas in paras:
            spans = fn(ctx)
            n_sent += len(spans)
            bounds = {b for _, b in spans[:-1]}
            for qa in qas:
                for ans in qa["answers"][:1]:
                    a, b = ans["answer_start"], ans["answer_start"] + len(ans["text"])
                    total += 1
                    if any(a < x < b for x in bounds):
                        cut += 1
        dt = time.perf_counter() - t0
        print(
            f"{name:10s} answers cut {cut}/{total} ({100 * cut / total:.2f}%)  "
            f"sentences/para {n_sent / len(paras):.2f}  {n_sent / dt:,.0f} sentences/s"
        )
        if seed.exists():
            t = seed.read_text()
            for a, b in fn(t):
                if b - a < 25 or any(w in t[a:b] for w in ("Q:", "e-Zor w3")):
                    print("   ", repr(t[a:b][:90]))


if __name__ == "__main__":
    main()
