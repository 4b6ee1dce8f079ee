"""The news set: it loads and checks itself, and `briefing eval --news` scores it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from embeddings.encoder import Encoder
from service.cli import main
from service.evaluation.news import NewsSetError, format_news_table, load_news, run_news_eval
from service.settings import Settings

NEWS = Path(__file__).resolve().parents[2] / "bench" / "news"
READER_NEWS = NEWS.with_name("reader_news")


def test_the_shipped_news_set_is_consistent() -> None:
    news = load_news(NEWS)
    assert len(news.articles) >= 40 and len(news.questions) >= 100
    kinds = {q.kind for q in news.questions}
    assert {"quantity", "date", "interview", "who", "why"} <= kinds
    sources = {a.source for a in news.articles}
    assert len(sources) >= 3  # wire copies and several papers
    assert len({q.id for q in news.questions}) == len(news.questions)


def test_the_readers_news_set_is_consistent_and_apart_from_the_evaluated_one() -> None:
    """bench/reader_news is what the reader trains on: it must never share an article, a
    sentence or a question with bench/news, on which the reader is evaluated."""
    train, evaluated = load_news(READER_NEWS), load_news(NEWS)
    assert len(train.articles) >= 30 and len(train.questions) >= 100
    assert {"quantity", "date", "interview", "why", "yesno"} <= {q.kind for q in train.questions}
    assert not {a.id for a in train.articles} & {a.id for a in evaluated.articles}
    assert not {q.question for q in train.questions} & {q.question for q in evaluated.questions}

    def sentences(articles: list) -> set[str]:
        return {s.strip() for a in articles for s in a.text.replace("\n", " ").split(". ")}

    assert not {s for s in sentences(train.articles) & sentences(evaluated.articles) if len(s) > 30}


def _copy(tmp_path: Path) -> Path:
    folder = tmp_path / "news"
    shutil.copytree(NEWS, folder)
    return folder


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda q: q.update(answers=["words in no article"]), "holds none of its answers"),
        (lambda q: q.update(articles=["no-such-article"]), "unknown: ['no-such-article']"),
        (lambda q: q.pop("question"), "missing or malformed 'question'"),
    ],
)
def test_a_broken_question_is_named(tmp_path: Path, edit: object, message: str) -> None:
    folder = _copy(tmp_path)
    path = folder / "questions.jsonl"
    lines = path.read_text(encoding="utf-8").splitlines()
    first = json.loads(lines[0])
    edit(first)  # type: ignore[operator]
    path.write_text("\n".join([json.dumps(first), *lines[1:]]), encoding="utf-8")
    with pytest.raises(NewsSetError, match=message.replace("[", r"\[").replace("]", r"\]")):
        load_news(folder)


def test_news_eval_scores_briefing_beside_the_baselines(tmp_path: Path, encoder: Encoder) -> None:
    report = run_news_eval(load_news(NEWS), Settings(data_dir=tmp_path / "d"), encoder=encoder)
    systems = report["systems"]
    assert set(systems) == {"briefing", "bm25", "dense", "rrf"}
    assert report["corpus"]["duplicates"] >= 1  # a wire copy is a near-duplicate
    b = systems["briefing"]
    assert 0.0 <= b["answer_in_first_quote"] <= b["answer_in_top3_quotes"] <= 1.0
    # Well above chance: the first quote comes from an article holding the answer.
    assert b["article_recall_at_1"] > 0.8
    assert sum(k["questions"] for k in report["kinds"].values()) == report["questions"]
    table = format_news_table(report)
    assert "answer_in_first_quote" in table and "interview" in table


def test_news_eval_cli_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eval", "--news", str(tmp_path / "missing")]) == 2
    assert "no such folder" in capsys.readouterr().err
    assert main(["eval"]) == 2
    assert "give --squad FILE" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main(["eval", "--news", str(tmp_path / "empty")]) == 2
    assert "cannot read" in capsys.readouterr().err
